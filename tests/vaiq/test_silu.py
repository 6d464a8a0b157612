"""SiLU / Swish and sigmoid: by default sigmoid is a float (CPU) op with a fix after it and the multiply
a quantized ``mul``; ``convert_silu_to_hswish`` (nndct's key) makes SiLU a hard-swish and
``convert_sigmoid_to_hsigmoid`` (vaiq's) makes sigmoid a hard-sigmoid. EfficientNet- and
MobileNetV3-style blocks with squeeze-excite gates quantize, export and run bit-exact."""
import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from vaiq import ConfigError
from vaiq.capture import capture
from vaiq.config import load_config
from vaic.pipeline import compile_graph
from vaic.writer import write_outputs
from vairun import GraphRunner

from flow import assert_bitexact_with_deploy, quantize_roundtrip, randomize_bn, to_nhwc


class SqueezeExcite(nn.Module):
    """global average pool -> 1x1 conv -> activation -> 1x1 conv -> gate -> x * gate over H, W."""

    def __init__(self, c, squeeze, act=nn.SiLU, gate=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.activation = act(inplace=True)
        self.scale_activation = gate()

    def forward(self, x):
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * s


class MBConv(nn.Module):
    """EfficientNet's block: expand 1x1, depthwise, SE, project 1x1, residual with stochastic depth."""

    def __init__(self, c, expand, k=3, hand_written_swish=False):
        super().__init__()
        e = c * expand
        self.hand = hand_written_swish
        self.expand = nn.Sequential(nn.Conv2d(c, e, 1, bias=False), nn.BatchNorm2d(e))
        self.act1 = nn.SiLU(inplace=True)
        self.dw = nn.Sequential(nn.Conv2d(e, e, k, 1, k // 2, groups=e, bias=False), nn.BatchNorm2d(e),
                                nn.SiLU(inplace=True))
        self.se = SqueezeExcite(e, max(1, c // 4))
        self.project = nn.Sequential(nn.Conv2d(e, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        y = self.expand(x)
        y = y * torch.sigmoid(y) if self.hand else self.act1(y)
        y = self.project(self.se(self.dw(y)))
        return y + x


class TinyEfficientNet(nn.Module):
    def __init__(self, hand_written_swish=False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 9, 3, 2, 1, bias=False), nn.BatchNorm2d(9), nn.SiLU(inplace=True))
        self.blocks = nn.Sequential(MBConv(9, 2, hand_written_swish=hand_written_swish), MBConv(9, 3, k=5))
        self.head = nn.Sequential(nn.Conv2d(9, 24, 1, bias=False), nn.BatchNorm2d(24), nn.SiLU(inplace=True))
        self.classifier = nn.Sequential(nn.Dropout(0.2, inplace=True), nn.Linear(24, 6))

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class MobileNetV3Block(nn.Module):
    """MobileNetV3's inverted residual with hard-swish and an SE gate of ReLU + hard-sigmoid."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish(inplace=True))
        self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16),
                                nn.ReLU(inplace=True))
        self.se = SqueezeExcite(16, 8, act=nn.ReLU, gate=lambda: nn.Hardsigmoid(inplace=True))
        self.project = nn.Sequential(nn.Conv2d(16, 16, 1, bias=False), nn.BatchNorm2d(16))
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.project(self.se(self.dw(x)))
        return self.fc(x.mean((2, 3)))


SHAPE = (1, 3, 16, 16)


def _config(tmp_path, **keys):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(keys))
    return str(path)


def _kinds(g):
    return [n.kind for n in g.nodes]


def test_silu_and_hand_written_swish_capture_alike():
    a = capture(randomize_bn(TinyEfficientNet()).eval(), (torch.randn(*SHAPE),))
    b = capture(randomize_bn(TinyEfficientNet(hand_written_swish=True)).eval(), (torch.randn(*SHAPE),))
    assert _kinds(a) == _kinds(b)
    sig = [n for n in a.nodes if n.kind == "sigmoid"]
    assert len(sig) == 8 + 2     # 8 SiLUs and 2 SE gates
    assert all(n.quant == "float" and "no DPU engine" in n.reason for n in sig)


def test_silu_default_sigmoid_is_float_and_mul_quantized(tmp_path):
    q = quantize_roundtrip(randomize_bn(TinyEfficientNet()).eval(), SHAPE, tmp_path)
    sig = [n for n in q.graph.nodes if n.kind == "sigmoid"]
    assert sig and all(n.quant == "float" and n.attrs.get("fixed_out") for n in sig)
    muls = [n for n in q.graph.nodes if n.kind == "mul"]
    assert len(muls) == 10 and all(n.quant == "own" for n in muls)
    gate_muls = [n for n in muls if q.graph.node(n.inputs[0]).shape != q.graph.node(n.inputs[1]).shape]
    assert len(gate_muls) == 2           # the SE broadcasts over H, W
    xb = torch.randn(3, *SHAPE[1:], generator=torch.Generator().manual_seed(6)) * 1.5
    assert_bitexact_with_deploy(q, xb)


@pytest.mark.parametrize("keys, left", [
    ({"convert_silu_to_hswish": True}, {"sigmoid": 2, "hard-swish": 8, "hard-sigmoid": 0}),
    ({"convert_sigmoid_to_hsigmoid": True}, {"sigmoid": 0, "hard-swish": 0, "hard-sigmoid": 10}),
    ({"convert_silu_to_hswish": True, "convert_sigmoid_to_hsigmoid": True},
     {"sigmoid": 0, "hard-swish": 8, "hard-sigmoid": 2}),
])
def test_conversion_keys(keys, left, tmp_path):
    q = quantize_roundtrip(randomize_bn(TinyEfficientNet(hand_written_swish=True)).eval(), SHAPE, tmp_path,
                           quant_config_file=_config(tmp_path, **keys))
    kinds = _kinds(q.graph)
    assert {k: kinds.count(k) for k in left} == left
    assert [n.kind for n in q.graph.nodes if n.quant == "float"] == ["sigmoid"] * left["sigmoid"]
    xb = torch.randn(3, *SHAPE[1:], generator=torch.Generator().manual_seed(7)) * 1.5
    assert_bitexact_with_deploy(q, xb)


def test_mobilenet_v3_se_gate_with_hard_sigmoid(tmp_path):
    q = quantize_roundtrip(randomize_bn(MobileNetV3Block()).eval(), SHAPE, tmp_path)
    assert "hard-sigmoid" in _kinds(q.graph) and "sigmoid" not in _kinds(q.graph)
    assert all(n.quant in ("own", "shared") for n in q.graph.nodes)
    assert_bitexact_with_deploy(q, torch.randn(2, *SHAPE[1:], generator=torch.Generator().manual_seed(9)))


@pytest.mark.parametrize("keys", [{}, {"convert_silu_to_hswish": True, "convert_sigmoid_to_hsigmoid": True}])
def test_efficientnet_block_through_vaic_and_vairun(keys, tmp_path):
    q = quantize_roundtrip(randomize_bn(TinyEfficientNet()).eval(), SHAPE, tmp_path,
                           quant_config_file=_config(tmp_path, **keys))
    path = q.export_xmodel()
    res = compile_graph(path, "DPUCZDX8G/KV260")
    files = write_outputs(res, tmp_path / "c", "m")
    x = torch.randn(3, *SHAPE[1:], generator=torch.Generator().manual_seed(17)) * 1.3
    with torch.no_grad():
        expect = q.quant_model(x).numpy()
    (got,) = GraphRunner(files["m.xmodel"]).run([to_nhwc(x.numpy())]).values()
    assert got.shape == expect.shape
    assert int(np.count_nonzero(got != expect)) == 0
    assert res.dpu_subgraphs


def test_config_keys_default_false_and_are_checked(tmp_path):
    cfg = load_config(None)
    assert (cfg.silu_to_hswish, cfg.sigmoid_to_hsigmoid) == (False, False)
    cfg = load_config(_config(tmp_path, convert_silu_to_hswish=True))
    assert (cfg.silu_to_hswish, cfg.sigmoid_to_hsigmoid) == (True, False)
    with pytest.raises(ConfigError, match="convert_sigmoid_to_hsigmoid must be true or false"):
        load_config(_config(tmp_path, convert_sigmoid_to_hsigmoid="yes"))
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(_config(tmp_path, convert_swish_to_relu=True))
