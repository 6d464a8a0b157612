"""An image times / plus / minus / divided by a constant per-channel tensor (``x * scale`` with a
``[1, C, 1, 1]`` buffer, an input normalisation ``(x - mean) / std``, ONNX ``Mul`` / ``Add`` by a
``[1, C, 1, 1]`` initializer as other exporters write an unfolded BatchNorm) is a BatchNorm: vaiq folds it
into the conv before it or makes it a depthwise conv, the DPU runs it, bit-exact through vaiq -> vaic ->
vairun. Constants that are not per-channel still refuse the deploy model."""
import numpy as np
import pytest
import torch
from onnx import helper as h
from torch import nn

from vaiq import torch_quantizer
from vaiq.errors import VaiqError
from vaiq.onnx_frontend import load_onnx

from flow import assert_emulator_equals, quantize_roundtrip
from onnx_graphs import model


class ChannelAffine(nn.Module):
    """(x - mean) / std at the input (a depthwise conv), conv * scale + shift (folded), relu, c - y, conv."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.register_buffer("mean", torch.rand(1, 3, 1, 1, generator=g))
        self.register_buffer("std", torch.rand(1, 3, 1, 1, generator=g) + 0.5)
        self.register_buffer("scale", torch.rand(8, 1, 1, generator=g) + 0.5)
        self.register_buffer("shift", torch.randn(1, 8, 1, 1, generator=g) * 0.1)
        self.register_buffer("top", torch.rand(1, 8, 1, 1, generator=g) + 1.0)
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = (x - self.mean) / self.std
        y = torch.relu(self.c1(x) * self.scale + self.shift)
        return self.c2(self.top - y)


#: (x - mean) / std: one depthwise conv (the second BatchNorm folds into the first's); c1 * scale + shift
#: folds into c1 (relu fused); top - y: a depthwise conv after the relu; c2
KINDS = [("conv2d", True, None), ("conv2d", False, "relu"), ("conv2d", True, None), ("conv2d", False, None)]


def test_per_channel_constants_become_batchnorms_on_the_dpu(tmp_path):
    torch.manual_seed(0)
    m = ChannelAffine().eval()
    q = quantize_roundtrip(m, (1, 3, 8, 10), tmp_path / "q", batches=2, batch=2, target="DPUCZDX8G/KV260")
    kinds = [n.kind for n in q.graph.nodes]
    assert "batchnorm" not in kinds and all(n.quant != "float" for n in q.graph.nodes), kinds
    assert [(n.kind, bool(n.attrs.get("from_bn")), n.act) for n in q.graph.nodes if n.kind != "input"] == KINDS
    x = torch.randn(2, 3, 8, 10)
    with torch.no_grad():
        ref = m(x)
        got = q.quant_model(x)
    assert float((got - ref).abs().max()) < 0.1 * float(ref.abs().max())
    assert_emulator_equals(q, "DPUCZDX8G/KV260", tmp_path / "c", x)


def test_the_affine_is_exact_in_float(tmp_path):
    """Before quantization the folded graph computes what the torch ops compute (scale and shift are the
    constants themselves: mean 0, variance 1, eps 0)."""
    from vaiq.aten_map import _AFFINE
    from vaiq.prepare import bn_scale_shift
    c = torch.tensor([0.3, -2.0, 7.5])
    for (kind, rev), f in _AFFINE.items():
        scale, shift = f(c)
        s2, b2 = bn_scale_shift({"weight": scale, "bias": shift, "running_mean": torch.zeros(3),
                                 "running_var": torch.ones(3)}, 0.0)
        assert torch.equal(s2, scale) and torch.equal(b2, shift), (kind, rev)


class NotPerChannel(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 1)
        self.register_buffer("row", torch.rand(1, 1, 1, 6) + 0.5)

    def forward(self, x):
        return self.c(x) * self.row


def test_a_constant_that_is_not_per_channel_still_refuses_the_deploy_model(tmp_path):
    q = quantize_roundtrip(NotPerChannel().eval(), (1, 3, 4, 6), tmp_path / "q", batches=1, batch=1)
    with pytest.raises(VaiqError, match="no XIR equivalent"):
        q.export_xmodel()


def test_onnx_mul_add_by_channel_initializers(tmp_path):
    """A BatchNorm written as Mul + Add of [1, C, 1, 1] initializers after a Conv (as exporters that do not
    fold write it) quantizes, compiles and runs bit-exact."""
    rng = np.random.default_rng(0)
    nodes = [h.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             h.make_node("Mul", ["c", "s"], ["m"], name="scale"),
             h.make_node("Add", ["m", "t"], ["a"], name="shift"),
             h.make_node("Relu", ["a"], ["y"], name="relu")]
    inits = {"w": (rng.standard_normal((6, 3, 3, 3)) * 0.3).astype(np.float32),
             "s": (rng.random((1, 6, 1, 1)) + 0.5).astype(np.float32),
             "t": (rng.standard_normal((1, 6, 1, 1)) * 0.1).astype(np.float32)}
    mod = load_onnx(model(nodes, {"x": (1, 3, 8, 8)}, ["y"], inits))
    q = quantize_roundtrip(mod, (1, 3, 8, 8), tmp_path / "q", batches=2, batch=2, target="DPUCZDX8G/KV260")
    assert [n.kind for n in q.graph.nodes if n.kind != "input"] == ["conv2d"]
    assert_emulator_equals(q, "DPUCZDX8G/KV260", tmp_path / "c", torch.randn(2, 3, 8, 8))
