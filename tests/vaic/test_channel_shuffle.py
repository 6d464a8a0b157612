"""Channel shuffles (view / transpose / view, as ShuffleNet writes them) become one permutation conv
on the DPU (xir.transforms.channel_permute), bit-exact through vaiq -> vaic -> vairun; sibling branches
of the network input share one DPU subgraph (partition merges them)."""
import numpy as np
import pytest
import torch
from torch import nn

import xir
from xir.interp import run_graph
from xir.transforms import fold_channel_permutes
from xir.transforms.channel_permute import permutation

from flow import assert_emulator_equals, quantize_roundtrip
from test_backend_support import Builder


def channel_shuffle(x, groups):
    n, c, h, w = x.size()
    x = x.view(n, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(n, -1, h, w)


class ShuffleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.ReLU(inplace=True))
        self.b = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.ReLU(inplace=True))
        self.c = nn.Conv2d(24, 10, 1)

    def forward(self, x):
        y = channel_shuffle(torch.cat([self.a(x), self.b(x)], 1), 2)
        return self.c(channel_shuffle(y, 3))


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    torch.manual_seed(0)
    q = quantize_roundtrip(ShuffleNet().eval(), (1, 3, 9, 11), tmp_path_factory.mktemp("shuffle"))
    return q, q.export_xmodel()


@pytest.mark.parametrize("key", ["DPUCZDX8G/KV260", "DPUCADF8H/U250"])
def test_shuffle_is_one_dpu_subgraph_bit_exact(quantized, key, tmp_path):
    q, _ = quantized
    x = torch.randn(2, 3, 9, 11, generator=torch.Generator().manual_seed(2))
    res = assert_emulator_equals(q, key, tmp_path, x)
    assert [s.get_attr("device") for s in res.subgraphs] == ["USER", "DPU"]
    assert any("permute 24 channels" in line for line in res.log)


def _chain(b, x, *links):
    for kind, attr in links:
        if kind == "transpose":
            op = b.g.create_op(b._name("t"), "transpose", {"order": attr}, {"input": [x]})
        else:
            op = b.g.create_op(b._name("r"), "reshape-fix", {"shape": attr}, {"input": [x]})
        t = op.get_output_tensor()
        for k in ("fix_point", "bit_width", "if_signed", "round_mode"):
            t.set_attr(k, x.get_output_tensor().get_attr(k))
        op.infer_shape()
        x = op
    return x


def test_permutation_of_a_shuffle_chain_and_rejections():
    b = Builder()
    x = b.input([1, 2, 3, 6], fp=5)
    # NHWC -> NCHW, [1, 2, 3, 2, 3] groups, swap, back: ShuffleNet's shuffle with 2 groups of 3
    y = _chain(b, x, ("transpose", [0, 3, 1, 2]), ("reshape", [1, 2, 3, 2, 3]), ("transpose", [0, 2, 1, 3, 4]),
               ("reshape", [1, 6, 2, 3]), ("transpose", [0, 2, 3, 1]))
    chain = []
    op = y
    while op.get_type() in ("transpose", "reshape-fix"):
        chain.insert(0, op)
        op = op.get_input_op("input")
    assert permutation(chain, [1, 2, 3, 6]).tolist() == [0, 3, 1, 4, 2, 5]
    # a reshape that mixes pixels into channels is not a channel permutation
    b2 = Builder()
    x2 = b2.input([1, 2, 2, 4], fp=5)
    z = _chain(b2, x2, ("reshape", [1, 4, 2, 2]), ("reshape", [1, 2, 2, 4]))
    assert permutation([z.get_input_op("input"), z], [1, 2, 2, 4]) is not None      # identity bytes
    w = _chain(b2, x2, ("transpose", [0, 2, 1, 3]))                                    # swaps H and W
    assert permutation([w], [1, 2, 2, 4]) is None


def test_fold_keeps_the_values_and_removes_identities():
    b = Builder()
    x = b.input([1, 3, 4, 6], fp=5)
    s = _chain(b, x, ("transpose", [0, 3, 1, 2]), ("reshape", [1, 3, 2, 3, 4]), ("transpose", [0, 2, 1, 3, 4]),
               ("reshape", [1, 6, 3, 4]), ("transpose", [0, 2, 3, 1]))
    ident = _chain(b, s, ("transpose", [0, 3, 1, 2]), ("transpose", [0, 2, 3, 1]))
    b.pool(ident, "MAX", 2, 2, name="out")
    feeds = {"x": np.random.default_rng(0).integers(-128, 128, (1, 3, 4, 6)).astype(np.int8)}
    before = run_graph(b.g, feeds)["out"]
    log = fold_channel_permutes(b.g)
    assert len(log) == 1 and "permute 6 channels" in log[0]
    kinds = [o.get_type() for o in b.g.toposort()]
    assert "transpose" not in kinds and "reshape-fix" not in kinds and kinds.count("conv2d-fix") == 1
    b.g.validate()
    assert np.array_equal(run_graph(b.g, feeds)["out"], before)


class OddSlices(nn.Module):
    """A split along H concatenated back on H, and a channel slice with step 2 (neither a DPU view),
    returned after an output that is computed later in the graph."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 8, 3, padding=1)
        self.d = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        y = self.c(x)
        a, b = torch.split(y, [3, 5], dim=2)
        return self.d(torch.cat([a, b], 2)) + self.d(y), y[:, ::2]


def test_slices_the_dpu_cannot_view_run_on_the_cpu_bit_exact(tmp_path):
    torch.manual_seed(0)
    q = quantize_roundtrip(OddSlices().eval(), (1, 3, 8, 10), tmp_path / "q")
    res = assert_emulator_equals(q, "DPUCZDX8G/KV260", tmp_path / "c", torch.randn(2, 3, 8, 10))
    codes = {why.split(":")[0] for s in res.subgraphs if s.get_attr("device") == "CPU"
             for why in s.get_attr("cpu_reasons").values()}
    assert {"SLICE_AXIS", "CONCAT_AXIS"} <= codes
