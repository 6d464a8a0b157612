"""ONNX export: onnxruntime runs <Net>_int.onnx and agrees with quant_model; the file is standard QDQ
(power-of-two scales, zero point 0, int8 weights) and validates with onnx.checker."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

from flow import quantize_roundtrip
from vaiq import VaiqError, run_exact, torch_quantizer
from vaiq.calib import fake_quant
from vaiq.export_onnx import DEFAULT_OPSET, INT16_OPSET, export_onnx
from vaiq.prepare import has_fix
from vaiq.zoo import MODELS, get_model

ZOO = ["tiny_resnet", "tiny_mobilenet", "tiny_inception", "tiny_squeezenet", "leaky_net", "partial_net",
       "digits_cnn", "ffn", "tiny_shufflenet", "tiny_regnet", "tiny_resnext", "tiny_unet"]
FLOAT_ATOL = 1e-6          # outputs without a fix position (softmax): float32 kernels differ in the last bit


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = quantize_roundtrip(get_model(name), MODELS[name].input_shape,
                                             tmp_path_factory.mktemp(name), batches=2, batch=2)
        return cache[name]
    return get


def session(path, fuse=True):
    """onnxruntime as a user runs it: default session options (graph optimizations on, QDQ groups
    fused into int8 kernels); ``fuse=False`` runs a plain-QDQ graph as written."""
    so = ort.SessionOptions()
    if not fuse:
        so.add_session_config_entry("session.disable_quant_qdq", "1")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run(path, q, x, fuse=True):
    return session(path, fuse).run(None, {q.graph.inputs[0]: x.numpy()})


#: onnxruntime's integer kernels that its QDQ fusion makes (contrib ops included)
INT8_KERNELS = {"QGemm", "QLinearConv", "QLinearMatMul", "MatMulIntegerToFloat", "MatMulInteger", "ConvInteger",
                "QLinearAdd", "QLinearMul", "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearSigmoid",
                "QLinearLeakyRelu", "QLinearConcat", "QLinearSoftmax", "DynamicQuantizeMatMul"}


def optimized_ops(path, tmp_path) -> set:
    """The op types onnxruntime runs after its default graph optimizations."""
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED   # all but the NCHWc layout
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return {n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node}


def errors_in_steps(q, outs, refs):
    """Per output: |onnx - quant_model| in quantization steps (FLOAT_ATOL for float outputs)."""
    res = []
    for name, o, r in zip(q.graph.outputs, outs, refs):
        node = q.graph.node(name)
        step = 2.0 ** -q.table.get(name) if has_fix(node) else FLOAT_ATOL
        assert o.shape == tuple(r.shape)
        res.append(np.abs(o.astype(np.float64) - r.double().numpy()) / step)
    return np.concatenate([e.ravel() for e in res])


def flat(y):
    return list(y) if isinstance(y, (tuple, list)) else [y]


def _agrees(q, name, tmp_path):
    path = export_onnx(q, tmp_path, dynamic_batch=True)
    assert not optimized_ops(path, tmp_path) & INT8_KERNELS, "onnxruntime fused a QDQ group into an int8 kernel"
    x = torch.randn(2, *MODELS[name].input_shape[1:], generator=torch.Generator().manual_seed(7)) * 1.5
    with torch.no_grad():
        refs = flat(q.quant_model(x))
    err = errors_in_steps(q, run(path, q, x), refs)
    within = float(np.mean(err <= 1.0))
    assert within >= 0.999, f"{name}: {within:.4%} within one step, max error {err.max():.2f} steps"
    return err


@pytest.mark.parametrize("name", ZOO)
def test_onnxruntime_agrees_with_quant_model(name, quantized, tmp_path):
    """The issue's acceptance criterion under onnxruntime's default session options: within one
    quantization step on >= 99.9% of elements; the exact export does better on these models: outputs
    on a fix grid equal quant_model's (errors are whole steps, so below one means none), float outputs
    within FLOAT_ATOL. No QDQ group is left for onnxruntime to fuse into an inexact int8 kernel."""
    err = _agrees(quantized(name), name, tmp_path)
    assert err.max() < 1.0


FULL_ZOO = [n for n in MODELS if n not in ZOO]


@pytest.mark.slow
@pytest.mark.parametrize("name", FULL_ZOO)
def test_onnxruntime_default_options_on_full_zoo(name, tmp_path):
    """Every other zoo model: the full-size ones and the slower tiny variants."""
    q = quantize_roundtrip(get_model(name, bn_batches=2), MODELS[name].input_shape, tmp_path / "q", batches=1, batch=2)
    _agrees(q, name, tmp_path)


def test_dense_layers_under_default_session_options(tmp_path):
    """A dense layer whose bias lies on a grid finer than its accumulator's (large inputs, a small
    bias): onnxruntime's default options fuse a plain DequantizeLinear -> Gemm into QGemm, which reads
    the bias at the accumulator scale. The exact export leaves nothing to fuse and equals quant_model;
    the plain export adds such a bias after the Gemm, so the fused kernel is right up to ties."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    with torch.no_grad():
        for lin in (model[0], model[2]):
            lin.bias.copy_(torch.rand(lin.bias.shape) * 1e-3)
    gen = torch.Generator().manual_seed(4)
    q = torch_quantizer("calib", model, (torch.zeros(1, 64),), output_dir=str(tmp_path))
    with torch.no_grad():
        for _ in range(2):
            q.quant_model(torch.randn(8, 64, generator=gen) * 30)
    q.export_quant_config()
    q = torch_quantizer("test", model, (torch.zeros(1, 64),), output_dir=str(tmp_path))
    for name in ("linear", "linear_1"):
        acc = q.table.get(q.graph.node(name).inputs[0]) + q.table.param_pos[f"{name}.weight"]
        assert q.table.param_pos[f"{name}.bias"] > acc, "the test needs biases on a finer grid"
    x = torch.randn(16, 64, generator=torch.Generator().manual_seed(5)) * 30
    with torch.no_grad():
        ref = q.quant_model(x).double().numpy()
    step = 2.0 ** -q.table.get(q.graph.outputs[0])
    exact = export_onnx(q, tmp_path / "exact", dynamic_batch=True)
    assert not optimized_ops(exact, tmp_path) & INT8_KERNELS
    (out,) = run(exact, q, x)
    assert np.array_equal(out, ref)
    plain = export_onnx(q, tmp_path / "plain", dynamic_batch=True, exact_rounding=False)
    assert "QGemm" in optimized_ops(plain, tmp_path)
    (out,) = run(plain, q, x)
    assert np.abs(out - ref).max() <= step


def _scales_and_zeros(model):
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            yield node, inits[node.input[1]], inits[node.input[2]], inits


def test_file_is_standard_qdq_with_power_of_two_scales(quantized, tmp_path):
    q = quantized("tiny_mobilenet")
    path = export_onnx(q, tmp_path)
    assert path.name == f"{q.graph.name}_int.onnx"
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == DEFAULT_OPSET
    kinds = [n.op_type for n in model.graph.node]
    fixed = [n for n in q.graph.nodes if has_fix(n)]
    assert kinds.count("QuantizeLinear") >= len(fixed)
    assert kinds.count("DequantizeLinear") >= len(fixed)
    for node, scale, zero, inits in _scales_and_zeros(model):
        assert scale.shape == () and scale.dtype == np.float32
        assert np.log2(scale) == np.round(np.log2(scale)), f"{node.name}: scale {scale} is not a power of two"
        assert zero.shape == () and zero == 0
        if node.op_type == "QuantizeLinear":
            assert zero.dtype == np.int8
    # every conv / dense reads int8 weights through DequantizeLinear, biases from int32
    producers = {o: n for n in model.graph.node for o in n.output}
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
    assert len(convs) == sum(n.kind in ("conv2d", "inner-product") for n in q.graph.nodes)
    for c in convs:
        w, b = producers[c.input[1]], producers[c.input[2]]
        assert w.op_type == b.op_type == "DequantizeLinear"
        assert inits[w.input[0]].dtype == np.int8 and inits[b.input[0]].dtype == np.int32
    assert [i.name for i in model.graph.input] == q.graph.inputs
    assert [o.name for o in model.graph.output] == q.graph.outputs
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_value == q.graph.input_shapes[q.graph.inputs[0]][0]


def test_dynamic_batch_is_symbolic_and_runs_any_batch(quantized, tmp_path):
    q = quantized("tiny_squeezenet")
    path = export_onnx(q, tmp_path, dynamic_batch=True)
    model = onnx.load(str(path))
    for v in list(model.graph.input) + list(model.graph.output):
        assert v.type.tensor_type.shape.dim[0].dim_param == "batch"
    for b in (1, 5):
        x = torch.randn(b, 3, 32, 32, generator=torch.Generator().manual_seed(b))
        (out,) = run(path, q, x)
        assert out.shape[0] == b
        assert np.array_equal(out, q.quant_model(x).numpy())


def test_writes_are_atomic_and_deterministic(quantized, tmp_path):
    q = quantized("ffn")
    first = export_onnx(q, tmp_path).read_bytes()
    second = export_onnx(q, tmp_path).read_bytes()
    assert first == second
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{q.graph.name}_int.onnx"]


def test_api_method_writes_into_output_dir(quantized, tmp_path):
    q = quantized("digits_cnn")
    path = q.export_onnx_model(output_dir=str(tmp_path), dynamic_batch=True)
    assert path == tmp_path / f"{q.graph.name}_int.onnx"
    assert path.exists()


class OneConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)

    def forward(self, x):
        return F.relu(self.conv(x))


@pytest.mark.parametrize("exact", [True, False])
def test_rounding_ties(exact, tmp_path):
    """Exact rounding reproduces DPU_ROUND (half up) on every tie; plain QDQ differs only on ties whose
    lower neighbour is even, by exactly one step down (QuantizeLinear rounds half to even)."""
    torch.manual_seed(0)
    q = quantize_roundtrip(OneConv().eval(), (1, 4, 6, 6), tmp_path, batches=2)
    conv = q.graph.node(q.graph.outputs[0])
    fi, fo = q.table.get(q.graph.inputs[0]), q.table.get(conv.name)
    x = fake_quant(torch.randn(8, 4, 6, 6, generator=torch.Generator().manual_seed(3)).double(), fi).float()
    exact_val = run_exact.run_node(conv, [x.double()], q.quant_model.quantized_params()[conv.name])
    scaled = exact_val.numpy() * 2.0 ** fo
    in_range = (scaled > -128) & (scaled < 127)
    ties = (scaled - np.floor(scaled) == 0.5) & in_range
    assert ties.sum() > 0, "the test input must contain rounding ties"
    path = export_onnx(q, tmp_path, dynamic_batch=True, exact_rounding=exact)
    model = onnx.load(str(path))
    assert ("Floor" in {n.op_type for n in model.graph.node}) == exact
    (out,) = run(path, q, x, fuse=exact)       # plain QDQ as written: QuantizeLinear's own rounding
    diff = (out.astype(np.float64) - q.quant_model(x).double().numpy()) * 2.0 ** fo
    if exact:
        assert np.count_nonzero(diff) == 0
    else:
        lower_even = np.floor(scaled) % 2 == 0
        assert np.array_equal(diff != 0, ties & lower_even)
        assert set(np.unique(diff[diff != 0])) == {-1.0}


class CoverNet(nn.Module):
    """Every node kind with an ONNX form: depthwise and transposed conv, ReLU6, hard-swish/sigmoid gate,
    constant pad, ceil-mode pools, float sigmoid/tanh/sub/div, bilinear resize (both coordinate
    modes), nearest upsample, slice, permute, reshape, mean, 2-D and 3-D linear, softmax, matmul, concat."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c1, self.r6 = nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU6()
        self.dw = nn.Conv2d(8, 8, 3, 2, 1, groups=8)
        self.c2 = nn.Conv2d(8, 8, 1)
        self.up = nn.ConvTranspose2d(8, 4, 3, 2, 1, output_padding=1)
        self.fc, self.fc3 = nn.Linear(8, 6), nn.Linear(4, 5)

    def forward(self, x):
        b = F.hardswish(self.dw(self.r6(self.c1(x))))
        c = torch.constant_pad_nd(F.hardsigmoid(self.c2(b)) * b, (1, 0, 0, 1))
        d = F.max_pool2d(F.avg_pool2d(c, 3, 2, 1, ceil_mode=True), 2, 2, ceil_mode=True)
        e = (torch.tanh(d) - torch.sigmoid(d)) / torch.sigmoid(d)
        f = F.interpolate(e, size=(6, 6), mode="bilinear", align_corners=False)
        f2 = F.interpolate(e, size=(5, 7), mode="bilinear", align_corners=True)
        u = F.interpolate(F.leaky_relu(self.up(b), 0.1), scale_factor=2, mode="nearest")[:, 1:3]
        t = u.permute(0, 1, 3, 2).reshape(x.shape[0], 2, -1)
        k = torch.softmax(self.fc(f.mean(dim=(2, 3))), dim=-1)
        w = torch.matmul(t[:, :, :5], self.fc3(t[:, :, :4]).transpose(1, 2))
        return k, w, torch.cat([u, u], 1), f2.mean(dim=1, keepdim=True), torch.relu(f2)


@pytest.fixture(scope="module")
def cover(tmp_path_factory):
    return quantize_roundtrip(CoverNet().eval(), (3, 3, 16, 16), tmp_path_factory.mktemp("cover"), batches=3, batch=3)


@pytest.mark.parametrize("opset", [13, 17, 18, INT16_OPSET])
def test_every_op_kind_matches_quant_model(cover, opset, tmp_path):
    q = cover
    assert not any(n.kind == "torch" for n in q.graph.nodes)
    path = export_onnx(q, tmp_path, dynamic_batch=True, opset_version=opset)
    kinds = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"ConvTranspose", "Resize", "ReduceMean", "Slice", "Pad", "Transpose", "Reshape", "Softmax",
            "Sigmoid", "Tanh", "Sub", "Div", "MatMul", "Conv", "LeakyRelu", "Concat", "AveragePool", "MaxPool",
            "Flatten"} <= kinds
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        refs = flat(q.quant_model(x))
    err = errors_in_steps(q, run(path, q, x), refs)
    assert err.max() <= 1.0


def test_replayed_torch_call_is_a_clear_error(tmp_path):
    class Relu6Abs(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return F.relu6(self.c(x)).abs()

    q = quantize_roundtrip(Relu6Abs().eval(), (2, 3, 8, 8), tmp_path, batches=1)
    torch_nodes = [n.name for n in q.graph.nodes if n.kind == "torch"]
    assert torch_nodes
    with pytest.raises(VaiqError, match=f"node '{torch_nodes[0]}'"):
        export_onnx(q, tmp_path)
    assert not list(tmp_path.glob("*.onnx"))


def test_opset_outside_the_supported_range(quantized, tmp_path):
    q = quantized("ffn")
    for bad in (12, onnx.defs.onnx_opset_version() + 1):
        with pytest.raises(VaiqError, match="opset_version"):
            export_onnx(q, tmp_path, opset_version=bad)


@pytest.mark.parametrize("bits", [4, 16])
def test_other_bit_widths(bits, tmp_path):
    q = quantize_roundtrip(get_model("ffn"), (1, 2), tmp_path, bitwidth=bits)
    path = export_onnx(q, tmp_path, dynamic_batch=True)
    model = onnx.load(str(path))
    carrier = np.int8 if bits <= 8 else np.int16
    assert model.opset_import[0].version == (DEFAULT_OPSET if bits <= 8 else INT16_OPSET)
    for node, scale, zero, inits in _scales_and_zeros(model):
        if node.op_type == "QuantizeLinear":
            assert zero.dtype == carrier
    assert ("Clip" in {n.op_type for n in model.graph.node}) == (bits < 8)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(2)) * 4
    (out,) = run(path, q, x)
    assert np.array_equal(out, q.quant_model(x).numpy())
    if bits > 8:
        with pytest.raises(VaiqError, match=f"opset_version >= {INT16_OPSET}"):
            export_onnx(q, tmp_path, opset_version=DEFAULT_OPSET)
