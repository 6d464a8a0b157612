"""Ops with several outputs (chunk, split, split_with_sizes, unbind, max with indices unused) and the
layouts library models build with them (ShuffleNetV2's channel split and shuffle, CBAM-style spatial
attention): each used output is its own node, unused ones make none, and the quantized model runs
bit-exact against its deploy graph, through vaic and vairun too."""
import numpy as np
import pytest
import torch
import torch.nn as nn

import xir
from vaiq import VaiqError
from vaiq.capture import capture
from vaic.pipeline import compile_graph
from vaic.writer import write_outputs
from vairun import GraphRunner

from flow import assert_bitexact_with_deploy, quantize_roundtrip, randomize_bn, to_nhwc


def channel_shuffle(x, groups: int):
    n, c, h, w = x.size()
    x = x.view(n, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(n, -1, h, w)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2's stride-1 unit: split the channels, transform one half, concat, shuffle."""

    def __init__(self, c):
        super().__init__()
        half = c // 2
        self.branch2 = nn.Sequential(
            nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, 1, 1, groups=half, bias=False), nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True))

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat((x1, self.branch2(x2)), dim=1), 2)


class TinyShuffleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 22, 3, 2, 1, bias=False), nn.BatchNorm2d(22), nn.ReLU(inplace=True))
        self.stage = nn.Sequential(ShuffleUnit(22), ShuffleUnit(22))
        self.conv5 = nn.Sequential(nn.Conv2d(22, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        self.fc = nn.Linear(32, 5)

    def forward(self, x):
        x = self.conv5(self.stage(self.conv1(x)))
        return self.fc(x.mean([2, 3]))


class SplitNet(nn.Module):
    """Odd channel counts, torch.split with sizes and with a size, unbind, CBAM-style spatial attention
    (channel mean and channel max, values only) and two outputs."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 11, 3, padding=1)
        self.conv_b = nn.Conv2d(5, 5, 3, padding=1)
        self.conv_c = nn.Conv2d(8, 8, 1)
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)
        self.head = nn.Conv2d(8, 6, 3, stride=2, padding=1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        a, b, _unused = torch.split(x, [3, 5, 3], dim=1)
        y = torch.cat([a, torch.relu(self.conv_b(b))], dim=1)            # 8 channels
        p, q, r = y.split(3, dim=1)                                      # 3, 3, 2
        y = torch.cat([q, p, r], dim=1)
        n, c, h, w = y.shape
        u0, u1 = y.view(n, 2, c // 2, h, w).unbind(1)
        y = self.conv_c(torch.cat([u0 + u1, u1], dim=1))
        att = torch.cat([y.mean(dim=1, keepdim=True), y.max(dim=1, keepdim=True)[0]], dim=1)
        y = y * torch.sigmoid(self.spatial(att))
        z = torch.relu(self.head(y))
        return self.fc(z.mean([2, 3])), a


def test_chunk_and_shuffle_capture_as_slices_and_layout_ops():
    g = capture(randomize_bn(TinyShuffleNet()).eval(), (torch.randn(1, 3, 16, 16),))
    slices = [n for n in g.nodes if n.kind == "strided_slice"]
    assert sorted((n.attrs["dim"], n.attrs["start"], n.attrs["end"]) for n in slices) == \
        [(1, 0, 11), (1, 0, 11), (1, 11, 22), (1, 11, 22)]
    assert not [n for n in g.nodes if n.kind == "torch"]


def test_split_unbind_and_max_capture_each_used_output_once():
    g = capture(SplitNet().eval(), (torch.randn(1, 3, 12, 10),))
    by_source = {}
    for n in g.nodes:
        by_source.setdefault(n.source, []).append(n)
    sw = [n for n in by_source["split_with_sizes.default"] if n.kind == "strided_slice"]
    assert [(n.attrs["start"], n.attrs["end"]) for n in sw] == [(0, 3), (3, 8)]     # the third is unused
    st = [n for n in by_source["split.Tensor"]]
    assert sorted((n.attrs["start"], n.attrs["end"]) for n in st) == [(0, 3), (3, 6), (6, 8)]
    ub = by_source["unbind.int"]
    assert sorted(n.kind for n in ub) == ["reshape", "reshape", "strided_slice", "strided_slice"]
    (mx,) = by_source["max.dim"]
    assert mx.kind == "reduction_max" and mx.quant == "float" and mx.attrs == {"dims": [1], "keepdim": True}
    assert not [n for n in g.nodes if n.kind == "torch"]


@pytest.mark.parametrize("model, shape", [(TinyShuffleNet, (1, 3, 16, 16)), (SplitNet, (1, 3, 12, 10))])
def test_multi_output_models_are_bit_exact_with_their_deploy_graph(model, shape, tmp_path):
    q = quantize_roundtrip(randomize_bn(model()).eval(), shape, tmp_path)
    xb = torch.randn(3, *shape[1:], generator=torch.Generator().manual_seed(8)) * 1.5
    assert_bitexact_with_deploy(q, xb)


def test_shuffle_net_runs_bit_exact_through_vaic_and_vairun(tmp_path):
    q = quantize_roundtrip(randomize_bn(TinyShuffleNet()).eval(), (1, 3, 16, 16), tmp_path)
    path = assert_bitexact_with_deploy(q, torch.randn(2, 3, 16, 16))
    slices = [op for op in xir.Graph.deserialize(path).toposort() if op.get_type() == "strided_slice"]
    assert sorted((op.get_attr("begin"), op.get_attr("end")) for op in slices) == \
        [([0, 0, 0, 0], [1, 8, 8, 11])] * 2 + [([0, 0, 0, 11], [1, 8, 8, 22])] * 2     # channels: NHWC axis 3
    files = write_outputs(compile_graph(path, "DPUCZDX8G/KV260"), tmp_path / "c", "m")
    runner = GraphRunner(files["m.xmodel"])
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(17)) * 1.3
    with torch.no_grad():
        expect = q.quant_model(x).numpy()
    (got,) = runner.run([to_nhwc(x.numpy())]).values()
    assert got.shape == expect.shape
    assert int(np.count_nonzero(got != expect)) == 0


class UsesArgmax(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        values, indices = self.conv(x).max(dim=1)
        return values, indices


def test_used_max_indices_stay_a_cpu_op_and_export_says_why(tmp_path):
    q = quantize_roundtrip(UsesArgmax().eval(), (1, 3, 5, 5), tmp_path)
    torch_nodes = [n for n in q.graph.nodes if n.kind == "torch"]
    assert any("indices of max" in n.reason for n in torch_nodes)
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        values, indices = q.quant_model(x)
        ref = q._float_module.conv(x).max(dim=1).indices
    assert values.shape == (2, 5, 5) and indices.shape == (2, 5, 5)
    assert float((indices == ref).float().mean()) > 0.8    # argmax of the quantized conv
    with pytest.raises(VaiqError, match="has no XIR equivalent"):
        q.export_xmodel()
