"""vai_tvm judges a match on the compiler's canonical graph: each DPU op it takes is described exactly as
``vaiq inspect`` (vaiq.describe.CanonicalView, the same canonicalisation) describes the node the same
torch layer becomes, so the partitioner and the quantizer apply one set of rules."""
from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vaiq.describe import CanonicalView
from xir.target.placement import misfit

tvm = pytest.importorskip("tvm")

SHAPE = (1, 3, 12, 16)
DPU = "DPUCZDX8G-zcu104"
LEAKY = 26 / 256          # the DPU's LeakyReLU slope: vaiq fuses it into the conv


class Forms(nn.Module):
    """Every form the patterns describe: strides and paddings differing in h and w, depthwise convs with
    multiplier 1 and 2, a grouped conv, LeakyReLU, ReLU after an add, max pool with ceil mode, an average
    pool excluding its padding, a channel concat, a global average pool, a flatten, a dense layer + ReLU.
    The DPUCZDX8G takes neither the multiplier-2 depthwise conv nor the average pool."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c0 = nn.Conv2d(3, 8, (3, 5), stride=(1, 2), padding=(1, 2))
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.dw2 = nn.Conv2d(8, 16, 3, padding=1, groups=8)
        self.c1 = nn.Conv2d(32, 16, 1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.leaky_relu(self.c0(x), LEAKY)
        a = F.relu(self.dw(x))
        b = self.grouped(x)
        y = F.relu(a + b)
        y = F.max_pool2d(self.dw2(y), 3, 2, 1, ceil_mode=True)
        z = F.avg_pool2d(y, 3, 1, 1, count_include_pad=False)
        y = self.c1(torch.cat([y, z], 1))
        return F.relu(self.fc(F.adaptive_avg_pool2d(y, 1).flatten(1)))


def _key(d):
    return (d.kind, repr(d))


def test_matches_are_described_and_judged_as_vaiq_judges_the_same_layers(tmp_path):
    import vai_tvm
    from vai_tvm.dpus import target_of
    from vai_tvm.partition import dpu_matches
    from vaiq import torch_quantizer

    model = Forms().eval()
    x = torch.randn(*SHAPE)
    f = io.BytesIO()
    torch.onnx.export(model, (x,), f, input_names=["x"], dynamo=False, opset_version=17)
    matches = dpu_matches(vai_tvm.from_onnx(f.getvalue(), shape_dict={"x": list(SHAPE)}), DPU)
    ours = sorted(_key(d) for _, d in matches if d.engine != "alias")

    q = torch_quantizer("float", model, (x,), output_dir=str(tmp_path))
    view = CanonicalView(q.graph)
    descs = [view.describe(n) for n in q.graph.nodes if n.quant != "float"]
    descs = [d for d in descs if d is not None and d.engine not in (None, "alias")]
    target = target_of(DPU)
    taken = sorted(_key(d) for d in descs if misfit(d, target) is None)
    refused = sorted(misfit(d, target).code for d in descs if misfit(d, target) is not None)

    assert refused == ["AVG_EXCLUDE_PAD", "CHANNEL_MULTIPLIER"]
    assert ours == taken
    assert sorted(k for k, _ in ours) == sorted(["conv2d-fix"] * 4 + ["depthwise-conv2d-fix", "eltwise-fix",
                                                                       "concat-fix", "pool-fix", "pool-fix"])
    dw = next(d for _, d in matches if d.kind == "depthwise-conv2d-fix")
    assert (dw.multiplier, dw.in_channels, dw.act) == (1, 8, "RELU")
    assert any(n == "conv2d_bias_act" and d.act == "LEAKYRELU" and d.kernel == (5, 3) for n, d in matches)
    assert any(n == "dense_bias_act" and d.kernel == (1, 1) and d.in_channels == 16 for n, d in matches)
