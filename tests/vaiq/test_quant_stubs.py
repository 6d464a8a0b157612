"""QuantStub / DeQuantStub partial quantization (vaiq.nn, vaiq.regions): only what lies between a
QuantStub and the following DeQuantStub is quantized; the rest stays float and runs on the CPU."""
import json

import numpy as np
import pytest
import torch
import torch.nn as nn

import xir
from flow import assert_bitexact_with_deploy, assert_emulator_equals, quantize_roundtrip
from vaiq import torch_quantizer
from vaiq.nn import DeQuantStub, QuantStub
from vaiq.regions import OUTSIDE


class TwoRegions(nn.Module):
    """conv+relu quantized, then float code (a conv, a max-pool, an affine) outside the regions, then a
    second quantized region, then a float tail."""

    def __init__(self):
        super().__init__()
        self.q1, self.dq1, self.q2, self.dq2 = QuantStub(), DeQuantStub(), QuantStub(), DeQuantStub()
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        self.mid = nn.Conv2d(8, 8, 1)
        self.c3, self.c4 = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = self.q1(x)
        x = self.c2(torch.relu(self.c1(x)))
        x = self.dq1(x)
        x = torch.max_pool2d(self.mid(x), 2) * 0.5 + 0.25
        x = self.q2(x)
        x = self.c4(torch.relu(self.c3(x)))
        return torch.relu(self.dq2(x)) - 0.1


def _roles(q):
    return {n.name: (n.quant, n.reason) for n in q.graph.nodes}


@pytest.fixture(scope="module")
def two_regions(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("two_regions")
    return quantize_roundtrip(TwoRegions().eval(), (1, 3, 16, 16), folder), folder


def test_stubs_are_float_identities_on_tensors_lists_and_tuples():
    x, y = torch.randn(2, 3), torch.randn(4)
    assert torch.equal(QuantStub()(x), x) and torch.equal(DeQuantStub()(x), x)
    out = QuantStub()([x, (y, 3)])
    assert isinstance(out, list) and isinstance(out[1], tuple) and out[1][1] == 3
    assert torch.equal(out[0], x) and torch.equal(out[1][0], y)
    w = torch.randn(3, requires_grad=True)
    DeQuantStub()(QuantStub()(w * 2)).sum().backward()
    assert torch.equal(w.grad, torch.full((3,), 2.0))


def test_only_the_regions_are_quantized(two_regions):
    q, folder = two_regions
    kinds = {n.kind for n in q.graph.nodes}
    assert not kinds & {"quant_stub", "dequant_stub"}
    roles = _roles(q)
    mid = next(n for n in q.graph.nodes if n.scope == "mid")
    assert roles[mid.name] == ("float", OUTSIDE)               # a DPU-capable conv outside the regions
    for scope in ("c1", "c2", "c3", "c4"):
        n = next(n for n in q.graph.nodes if n.scope == scope)
        assert n.quant == "own", scope
    assert q.graph.node("x").quant == "own"                    # read by a QuantStub: the input is quantized
    pool = next(n for n in q.graph.nodes if n.kind == "maxpool2d")
    assert pool.quant == "float"
    last_float = q.graph.node(next(n.inputs[0] for n in q.graph.nodes if n.scope == "c3"))
    assert last_float.quant == "float" and last_float.attrs.get("fixed_out")   # where region 2 starts
    info = json.loads((folder / "quant_info.json").read_text())
    assert info["float_ops"][mid.name] == OUTSIDE
    assert f"TwoRegions::{mid.name}" not in info["output"]


def test_two_regions_export_compile_and_run_bit_exact(two_regions, tmp_path):
    q, _ = two_regions
    xb = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    path = assert_bitexact_with_deploy(q, xb)
    g = xir.Graph.deserialize(path)
    assert not [o for o in g.get_ops() if "stub" in o.get_type() or "stub" in o.get_name()]
    res = assert_emulator_equals(q, "DPUCZDX8G/KV260", tmp_path, xb[:1])
    devices = [s.get_attr("device") for s in res.subgraphs if s.get_attr("device") != "USER"]
    assert devices.count("DPU") == 2
    first, last = devices.index("DPU"), len(devices) - 1 - devices[::-1].index("DPU")
    assert "CPU" in devices[first:last]                        # float code between the two DPU subgraphs
    mid = next(n.name for n in q.graph.nodes if n.scope == "mid")
    assert res.placements[mid].device == "CPU"


def test_stubs_inside_sequential_and_float_graph_input(tmp_path):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), QuantStub(), nn.Conv2d(4, 8, 3, padding=1),
                          nn.ReLU(), nn.Conv2d(8, 8, 1), DeQuantStub(), nn.Flatten(), nn.Linear(8 * 64, 5)).eval()
    q = quantize_roundtrip(model, (1, 3, 8, 8), tmp_path)
    by_scope = {n.scope: n for n in q.graph.nodes if n.scope}
    assert by_scope["0"].quant == "float" and not by_scope["0"].attrs.get("fixed_out")
    assert by_scope["1"].quant == "float" and by_scope["1"].attrs.get("fixed_out")   # the QuantStub's point
    assert by_scope["3"].quant == "own" and by_scope["5"].quant == "own"
    assert by_scope["8"].quant == "float" and by_scope["8"].reason == OUTSIDE
    assert q.graph.node(q.graph.inputs[0]).quant == "float"    # the input reaches no QuantStub directly
    info = json.loads((tmp_path / "quant_info.json").read_text())
    assert info["input"] == {}
    xb = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    assert_bitexact_with_deploy(q, xb)
    with torch.no_grad():
        assert torch.allclose(q.quant_model(xb), model(xb), atol=0.1)


class ListStubs(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.dq = QuantStub(), DeQuantStub()
        self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 1)

    def forward(self, x, y):
        x, y = self.q([x, y])
        s = torch.cat([self.a(x), self.b(y)], 1)
        u, v = self.dq((s, torch.relu(self.b(y))))
        return u * 2.0, v


def test_stubs_on_lists_and_tuples_of_tensors(tmp_path):
    torch.manual_seed(2)
    model = ListStubs().eval()
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(1, 3, 8, 8, generator=gen), torch.randn(1, 3, 8, 8, generator=gen)
    q = torch_quantizer("calib", model, (x, y), output_dir=str(tmp_path))
    for _ in range(3):
        q.quant_model(torch.randn(2, 3, 8, 8, generator=gen), torch.randn(2, 3, 8, 8, generator=gen))
    q.export_quant_config()
    q = torch_quantizer("test", model, (x, y), output_dir=str(tmp_path))
    assert {q.graph.node(i).quant for i in q.graph.inputs} == {"own"}
    cat = next(n for n in q.graph.nodes if n.kind == "concat")
    assert cat.quant == "own"
    tail = next(n for n in q.graph.nodes if n.kind == "mul")
    assert tail.quant == "float"
    with torch.no_grad():
        u, v = q.quant_model(x, y)
    assert u.shape == (1, 8, 8, 8) and v.shape == (1, 4, 8, 8)
    grid = u.double() / 2 * 2 ** q.table.get(cat.name)       # the float mul reads the concat's fix grid
    assert torch.equal(grid, grid.round())


def test_without_stubs_everything_is_quantized(tmp_path):
    torch.manual_seed(0)
    plain = TwoRegions().eval()
    for name in ("q1", "dq1", "q2", "dq2"):
        setattr(plain, name, nn.Identity())
    q = torch_quantizer("float", plain, (torch.randn(1, 3, 16, 16),), output_dir=str(tmp_path))
    assert all(n.reason != OUTSIDE for n in q.graph.nodes)
    mid = next(n for n in q.graph.nodes if n.scope == "mid")
    assert mid.quant == "own"


class FloatHead(nn.Module):
    """The graph input reaches no QuantStub directly: a float affine first, the stubs after it."""

    def __init__(self):
        super().__init__()
        self.q, self.dq = QuantStub(), DeQuantStub()
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.dq(self.c2(torch.relu(self.c1(self.q(x * 0.5 + 0.25)))))


def test_float_graph_input_exports_onnx_and_torchscript(tmp_path):
    import onnxruntime as ort
    torch.manual_seed(0)
    q = quantize_roundtrip(FloatHead().eval(), (1, 3, 8, 8), tmp_path)
    assert q.graph.node("x").quant == "float" and not q.graph.node("x").attrs.get("fixed_out")
    xb = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        want = q.quant_model(xb).numpy()
    sess = ort.InferenceSession(str(q.export_onnx_model()))
    got = sess.run(None, {sess.get_inputs()[0].name: xb.numpy()})[0]
    assert np.array_equal(got, want)
    ts = torch.jit.load(str(q.export_torch_script()))
    assert np.array_equal(ts(xb).numpy(), want)
    assert_bitexact_with_deploy(q, xb)
