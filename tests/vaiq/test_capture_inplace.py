"""Capture of models written the way public model libraries write them: in-place activations and
arithmetic, nn.Sequential blocks, dropout variants and stochastic depth in eval mode. Each quantizes,
exports and runs bit-exact against the xir reference execution of its deploy graph."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from vaiq import CaptureError, torch_quantizer
from vaiq.aten_map import LOWER, MULTI, lowering, out_of_place_twin
from vaiq.capture import _mutates_self, capture, export_program

from flow import assert_bitexact_with_deploy, quantize_roundtrip, randomize_bn

aten = torch.ops.aten


def drop_path(x, drop_prob: float = 0.0, training: bool = False):
    """Stochastic depth per sample, as timm-style libraries write it."""
    if drop_prob == 0.0 or not training:
        return x
    keep = 1 - drop_prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


class DropPath(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        return drop_path(x, self.p, self.training)


def stochastic_depth(x, p: float, mode: str, training: bool = True):
    """torchvision-style functional stochastic depth (``mode`` 'row' or 'batch')."""
    if not training or p == 0.0:
        return x
    shape = [x.shape[0]] + [1] * (x.ndim - 1) if mode == "row" else [1] * x.ndim
    noise = torch.empty(shape, dtype=x.dtype).bernoulli_(1.0 - p)
    return x * noise / (1.0 - p)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.drop_path = DropPath(0.1)

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out = self.drop_path(out)
        out += identity
        return self.relu(out)


class LibraryStyleNet(nn.Module):
    """In-place ReLU / ReLU6 / Hardswish / LeakyReLU, `+=`, `mul_`, every dropout flavour."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 13, 3, 2, 1, bias=False), nn.BatchNorm2d(13), nn.ReLU6(inplace=True))
        self.block1 = BasicBlock(13, 13)
        self.block2 = BasicBlock(13, 22, stride=2)
        self.mix = nn.Sequential(nn.Conv2d(22, 22, 3, 1, 1, groups=22), nn.Hardswish(inplace=True),
                                 nn.Dropout2d(0.2, inplace=True), nn.Conv2d(22, 17, 1),
                                 nn.LeakyReLU(0.1, inplace=True), nn.AlphaDropout(0.1))
        self.gate = nn.Sequential(nn.Conv2d(17, 17, 1), nn.Hardsigmoid(inplace=True))
        self.drop = nn.Dropout(0.3, inplace=True)
        self.fc = nn.Linear(17, 7)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x)))
        x = self.mix(x)
        x.mul_(self.gate(x))
        x = stochastic_depth(x, 0.2, "row", self.training)
        x = F.dropout(x, 0.1, training=self.training)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(self.drop(x))


def test_in_place_twins_are_derived_not_listed():
    assert not [t for t in list(LOWER) + list(MULTI) if str(t).split(".")[-2].endswith("_")]
    for inplace, twin in [(aten.relu_.default, aten.relu.default), (aten.hardtanh_.default, aten.hardtanh.default),
                          (aten.add_.Tensor, aten.add.Tensor), (aten.silu_.default, aten.silu.default),
                          (aten.dropout_.default, aten.dropout.default),
                          (aten.feature_alpha_dropout_.default, aten.feature_alpha_dropout.default)]:
        assert out_of_place_twin(inplace) is twin
        assert lowering(inplace) == lowering(twin) is not None
    assert out_of_place_twin(aten.relu.default) is None and out_of_place_twin(aten.__and__.Tensor) is None


def test_library_style_model_captures_without_cpu_ops():
    model = randomize_bn(LibraryStyleNet()).eval()
    g = capture(model, (torch.randn(1, 3, 32, 32),))
    # torch >= 2.6 keeps the in-place ops in the exported graph, older releases functionalize them
    ops = {n.source.split(".")[0].rstrip("_") for n in g.nodes}
    assert {"relu", "hardtanh", "hardswish", "leaky_relu", "add", "mul"} <= ops
    assert not [n for n in g.nodes if n.kind == "torch"]
    assert not [n for n in g.nodes if "dropout" in n.source or "bernoulli" in n.source]


def test_library_style_model_is_bit_exact_with_its_deploy_graph(tmp_path):
    model = randomize_bn(LibraryStyleNet()).eval()
    q = quantize_roundtrip(model, (1, 3, 32, 32), tmp_path)
    assert all(n.quant in ("own", "shared") for n in q.graph.nodes)
    xb = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(4)) * 1.5
    assert_bitexact_with_deploy(q, xb)


class ReadsAfterInPlace(nn.Module):
    """``relu_`` changes ``y`` for every later reader (torch semantics), and `+=` on the running sum."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 1)

    def forward(self, x):
        y = self.conv(x)
        z = torch.relu_(y)
        s = self.conv2(y)     # reads y after the in-place relu: the rectified values
        s += z
        return s


def test_readers_after_an_in_place_op_see_its_result(tmp_path):
    model = ReadsAfterInPlace().eval()
    x = torch.randn(2, 3, 9, 9, generator=torch.Generator().manual_seed(2))
    q = quantize_roundtrip(model, (1, 3, 9, 9), tmp_path)
    float_q = type(q)("float", model, (x[:1],), output_dir=str(tmp_path))
    with torch.no_grad():
        torch.testing.assert_close(float_q.quant_model(x), model(x.clone()))
    conv2 = next(n for n in q.graph.nodes if n.scope == "conv2")
    assert q.graph.node(conv2.inputs[0]).kind == "relu" or q.graph.node(conv2.inputs[0]).act == "relu"
    assert_bitexact_with_deploy(q, x)


class MutatesAView(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        y = self.conv(x)
        a = y[:, :2]
        a.relu_()             # changes y's first half too ...
        return y * 2.0        # ... which is read here


def test_in_place_op_on_a_view_read_later_is_refused(tmp_path):
    model, x = MutatesAView().eval(), torch.randn(1, 3, 4, 4)
    ep = export_program(model, (x,))
    if any(_mutates_self(n.target) for n in ep.graph.nodes if n.op == "call_function"):
        with pytest.raises(CaptureError, match="in place.*view"):
            capture(model, (x,))
    else:   # an older torch.export functionalized the mutation itself: the graph must compute it
        q = torch_quantizer("float", model, (x,), output_dir=str(tmp_path))
        with torch.no_grad():
            torch.testing.assert_close(q.quant_model(x), model(x.clone()))


class TrainingDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return F.dropout(self.conv(x), 0.5)     # training=True by default: random at inference


def test_dropout_left_in_training_mode_is_a_clear_error():
    with pytest.raises(CaptureError, match="training=self.training"):
        capture(TrainingDropout().eval(), (torch.randn(1, 3, 4, 4),))
