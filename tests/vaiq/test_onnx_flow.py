"""ONNX models as popular exporters write them: torch.onnx.export (the TorchScript exporter) of nets the
test defines (a ResNet-style net with in-place ReLU and nn.Sequential, a MobileNet-style net with ReLU6
and depthwise convs, Flatten vs Reshape(-1) heads, nearest upsampling, odd sizes like 33x47) load and
compute what onnxruntime computes; the command line quantizes one (vaiq quantize --model m.onnx, with
a CPU op in the middle), vaic compiles it and vairun runs it bit for bit equal to vaiq's test mode."""
import io
import json
import warnings

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from vaiq import torch_quantizer
from vaiq.onnx_frontend import load_onnx

from onnx_graphs import run_ort


def _bn(c):
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
    return bn


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), _bn(cout), nn.ReLU(inplace=True),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), _bn(cout))
        self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _bn(cout)) if stride > 1 else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.body(x)
        y += x if self.short is None else self.short(x)
        return self.relu(y)


class ResNetish(nn.Module):
    """ResNet-style: stem, max pool, residual stages, global pool, Flatten head."""

    def __init__(self, head="flatten"):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), _bn(8), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        self.layer1 = nn.Sequential(Block(8, 8, 1), Block(8, 16, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = head
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        y = self.pool(self.layer1(self.stem(x)))
        y = torch.flatten(y, 1) if self.head == "flatten" else y.reshape(y.size(0), -1)
        return self.fc(y)


class MobileNetish(nn.Module):
    """MobileNet-style: ReLU6 (Clip), depthwise separable convs, a hard-swish, an upsampled skip."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), _bn(8), nn.ReLU6(inplace=True))
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1, groups=8), _bn(8), nn.ReLU6(),
                                nn.Conv2d(8, 16, 1), _bn(16), nn.Hardswish())
        self.down = nn.Conv2d(16, 16, 3, 2, 1, groups=16)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.out = nn.Conv2d(32, 4, 1)

    def forward(self, x):
        y = self.dw(self.stem(x))
        z = self.up(self.down(y))[:, :, :y.shape[2], :y.shape[3]]
        return self.out(torch.cat([y, z], 1))


class WithCpuOp(nn.Module):
    """A CNN with an op the DPU cannot take (sigmoid) between two DPU parts, and two named outputs."""

    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), _bn(8), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.b = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1, groups=8), nn.ReLU6(), nn.Conv2d(8, 16, 1),
                               nn.ReLU())
        self.fc = nn.Linear(16, 5)
        self.seg = nn.Sequential(nn.Conv2d(16, 3, 1), nn.ReLU())

    def forward(self, x):
        y = self.a(x)
        y = torch.sigmoid(y) * 4.0
        feat = self.b(y)
        return self.fc(feat.mean((2, 3))), self.seg(feat)


def export(model, shape, path=None, names=("x",), outs=("y",), dynamic=False, opset=17):
    torch.manual_seed(0)
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.0)
    buf = io.BytesIO() if path is None else path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(*shape),), buf, dynamo=False, input_names=list(names),
                          output_names=list(outs), opset_version=opset,
                          dynamic_axes={names[0]: {0: "batch"}} if dynamic else None)
    return onnx.load_from_string(buf.getvalue()) if path is None else onnx.load(path)


def _close_to_ort(proto, shape, batch=None):
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    mod = load_onnx(proto, {proto.graph.input[0].name: shape} if batch else None)
    want = run_ort(proto, {proto.graph.input[0].name: x})
    with torch.no_grad():
        got = mod(torch.from_numpy(x))
    got = [got] if isinstance(got, torch.Tensor) else list(got)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-4, atol=1e-5)
    return mod


@pytest.mark.parametrize("head", ["flatten", "reshape"])
def test_resnet_style_export_matches_onnxruntime(head):
    torch.manual_seed(0)
    proto = export(ResNetish(head), (1, 3, 33, 47))
    mod = _close_to_ort(proto, (1, 3, 33, 47))
    assert not mod.reference_nodes
    kinds = {type(m).__name__ for m in mod.children()}
    assert {"Conv2d", "Linear"} <= kinds


def test_mobilenet_style_export_with_dynamic_batch():
    torch.manual_seed(0)
    proto = export(MobileNetish(), (1, 3, 33, 47), dynamic=True)
    assert load_onnx(proto).input_shapes == {"x": (1, 3, 33, 47)}     # a dynamic batch alone: one image
    mod = _close_to_ort(proto, (2, 3, 33, 47), batch=True)
    assert mod.input_shapes == {"x": (2, 3, 33, 47)} and not mod.reference_nodes


def test_module_contract_and_quantizer_names(tmp_path):
    torch.manual_seed(0)
    proto = export(WithCpuOp(), (1, 3, 16, 20), outs=("logits", "features"))
    m = load_onnx(proto, name="cpu_net")
    assert m.input_names == ["x"] and m.output_names == ["logits", "features"]
    assert [t.shape for t in m.example_inputs()] == [torch.Size([1, 3, 16, 20])]
    q = torch_quantizer("calib", m, m.example_inputs(), output_dir=str(tmp_path))
    with torch.no_grad():
        q.quant_model(torch.randn(2, 3, 16, 20))
    q.export_quant_config()
    assert q.graph.name == "cpu_net" and q.graph.outputs == ["logits", "features"] and q.graph.inputs == ["x"]
    info = json.loads((tmp_path / "quant_info.json").read_text())
    convs = {n.name for n in proto.graph.node if n.op_type == "Conv"}
    relu_out = {n.input[0] for n in proto.graph.node if n.op_type == "Relu" and n.output[0] == "features"}
    seg = {n.name for n in proto.graph.node if n.op_type == "Conv" and n.output[0] in relu_out}
    assert len(seg) == 1     # the conv whose fused ReLU computes the output 'features' is named after it
    assert {n.name for n in q.graph.nodes if n.kind == "conv2d"} == (convs - seg) | {"features"}
    assert all(f"cpu_net::{c}" in info["output"] for c in (convs - seg) | {"features"})
    assert "cpu_net::logits" in info["output"] and any("Sigmoid" in k for k in info["float_ops"])


@pytest.mark.slow
def test_mobilenet_style_quantizes_compiles_and_runs_bit_exact(tmp_path):
    from flow import assert_emulator_equals, quantize_roundtrip
    torch.manual_seed(0)
    m = load_onnx(export(MobileNetish(), (1, 3, 33, 47)))
    q = quantize_roundtrip(m, (1, 3, 33, 47), tmp_path / "q", batches=2, batch=2)
    assert_emulator_equals(q, "DPUCZDX8G/KV260", tmp_path / "c", torch.randn(2, 3, 33, 47))


def test_cli_quantize_compile_run_bit_exact(tmp_path):
    """vaiq quantize --model m.onnx -> vaic -> vairun run equals vaiq's test mode bit for bit."""
    from vaic.cli import main as vaic_main
    from vairun.cli import main as vairun_main
    from vaiq.cli import cli as vaiq_cli

    torch.manual_seed(0)
    onnx_path = tmp_path / "cpu_net.onnx"
    export(WithCpuOp(), (1, 3, 16, 20), path=str(onnx_path), outs=("logits", "features"))
    rng = np.random.default_rng(0)
    np.save(tmp_path / "calib.npy", rng.standard_normal((8, 3, 16, 20)).astype(np.float32))
    x = rng.standard_normal((2, 3, 16, 20)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = CliRunner().invoke(vaiq_cli, ["quantize", "--model", str(onnx_path), "--calib-data", str(tmp_path / "calib.npy"),
                                      "--output", str(tmp_path / "q"), "--batch-size", "4", "--no-torchscript",
                                      "--no-onnx", "-q"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(vaic_main, ["-x", str(tmp_path / "q" / "cpu_net_int.xmodel"), "-a", "DPUCZDX8G/KV260",
                                       "-o", str(tmp_path / "c"), "-n", "net", "-q"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(vairun_main, ["run", str(tmp_path / "c" / "net.xmodel"), "-i", str(tmp_path / "x.npy"),
                                         "--nchw", "-o", str(tmp_path / "y.npz"), "-q"])
    assert r.exit_code == 0, r.output
    got = np.load(tmp_path / "y.npz")
    m = load_onnx(onnx_path)
    qt = torch_quantizer("test", m, m.example_inputs(), output_dir=str(tmp_path / "q"))
    with torch.no_grad():
        want = qt.quant_model(torch.from_numpy(x))
    assert qt.graph.outputs == ["logits", "features"]
    for name, w in zip(qt.graph.outputs, want):
        key = next(k for k in (f"{name}_squeeze", f"{name}_fix", name) if k in got.files)
        assert got[key].shape == w.shape
        assert int(np.count_nonzero(got[key] != w.numpy())) == 0
    r = CliRunner().invoke(vaiq_cli, ["test", "--model", str(onnx_path), "--output", str(tmp_path / "q"),
                                      "--no-torchscript", "--no-onnx"])
    assert r.exit_code == 0 and "float vs quantized output" in r.output, r.output
    r = CliRunner().invoke(vaiq_cli, ["inspect", "--model", str(onnx_path), "--target", "DPUCZDX8G/KV260", "-q",
                                      "--json", str(tmp_path / "nodes.json")])
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads((tmp_path / "nodes.json").read_text())["nodes"]}
    assert rows["/Sigmoid"]["device"] == "CPU" and rows["logits"]["device"] == "DPU"
    # the sigmoid between the two DPU parts ran on the CPU
    import xir
    g = xir.Graph.deserialize(str(tmp_path / "c" / "net.xmodel"))
    devices = [s.get_attr("device") for s in g.get_root_subgraph().toposort_child_subgraph()]
    assert devices.count("DPU") >= 2 and "CPU" in devices


def test_fixed_batch_export_runs_on_other_batch_sizes():
    """torch.onnx.export bakes batch 1 into the Reshape(-1) head's shape subgraph; the folded Reshape keeps
    the batch axis free, so calibration batches of any size run."""
    torch.manual_seed(0)
    net = ResNetish("reshape").eval()
    mod = load_onnx(export(net, (1, 3, 33, 47)))
    x = torch.randn(3, 3, 33, 47)
    with torch.no_grad():
        torch.testing.assert_close(mod(x), net(x), rtol=1e-4, atol=1e-5)


def test_names_of_padded_layers_and_reference_ops_through_the_quantizer(tmp_path):
    from onnx import helper as h

    from onnx_graphs import model
    rng = np.random.default_rng(0)
    m = model([h.make_node("Conv", ["x", "w"], ["c"], name="conv_a", pads=[0, 1, 2, 1]),
               h.make_node("Relu", ["c"], ["r"], name="relu_a"),
               h.make_node("Cos", ["r"], ["k"], name="cos_a"),
               h.make_node("Conv", ["k", "w2"], ["out"], name="conv_b")],
              {"x": (1, 3, 8, 8)}, ["out"],
              {"w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
               "w2": rng.standard_normal((2, 4, 1, 1)).astype(np.float32)})
    mod = load_onnx(m, name="padded")
    q = torch_quantizer("calib", mod, mod.example_inputs(), output_dir=str(tmp_path))
    with torch.no_grad():
        q.quant_model(torch.randn(2, 3, 8, 8))
    q.export_quant_config()
    names = {n.name: n for n in q.graph.nodes}
    assert names["conv_a"].kind == "conv2d" and names["conv_a"].act == "relu"     # relu fused, pad before it
    assert any(k.startswith("conv_a_") and names[k].kind == "pad" for k in names)
    assert names["cos_a"].kind == "torch" and names["cos_a"].quant == "float"
    assert q.graph.outputs == ["out"] and names["out"].kind == "conv2d"
    qt = torch_quantizer("test", mod, mod.example_inputs(), output_dir=str(tmp_path))
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        y = qt.quant_model(x)
        f = mod(x)
    assert y.shape == f.shape and float((y - f).abs().max()) < 0.5
