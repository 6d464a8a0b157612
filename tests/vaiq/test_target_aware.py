"""Hardware-aware quantization: ``torch_quantizer(..., target=...)`` (or $NNDCT_TARGET) quantizes only
the ops the target's DPU runs, judged by the compiler's placement rules (vaiq.regions.apply_target)."""
import json

import pytest
import torch
import torch.nn as nn

from flow import assert_bitexact_with_deploy, assert_emulator_equals, quantize_roundtrip
from vaiq import QuantInfoError, VaiqError, torch_quantizer
from xir.target import load_target

U50 = "DPUCAHX8H/U50"     # no depthwise engine, no ALU, element-wise ADD only


class Mixed(nn.Module):
    """A conv, a depthwise conv, an element-wise multiply, a hard-swish and a classifier head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 8, 1)
        self.act = nn.Hardswish()
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        s = torch.relu(self.stem(x))
        d = torch.relu(self.dw(s))
        m = self.pw(d) * s
        return self.head(self.act(m) + s)


def _node(q, scope):
    return next(n for n in q.graph.nodes if n.scope == scope and n.kind != "input")


def _kind(q, kind):
    return next(n for n in q.graph.nodes if n.kind == kind)


def _x(seed=0, batch=1):
    return torch.randn(batch, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_without_target_everything_is_quantized():
    q = torch_quantizer("float", Mixed().eval(), (_x(),))
    assert q.target is None
    assert all(n.quant in ("own", "shared") for n in q.graph.nodes)


def test_target_keeps_what_its_dpu_cannot_run_float(tmp_path):
    torch.manual_seed(0)
    q = quantize_roundtrip(Mixed().eval(), (1, 3, 8, 8), tmp_path, target=U50)
    assert q.target.key == U50
    dw, mul, hsw = _node(q, "dw"), _kind(q, "mul"), _kind(q, "hard-swish")
    assert dw.quant == "float" and dw.reason.startswith("NO_ENGINE: ")
    assert mul.quant == "float" and mul.reason.split(":")[0] in ("NO_ENGINE", "NO_DPU_OP")
    assert hsw.quant == "float" and ":" in hsw.reason
    for scope in ("stem", "pw", "head"):
        assert _node(q, scope).quant == "own", scope
    assert _node(q, "stem").attrs.get("fixed_out") is None
    info = json.loads((tmp_path / "quant_info.json").read_text())
    assert info["target"] == {"name": U50, "fingerprint": load_target(U50).fingerprint_hex}
    assert info["float_ops"][dw.name] == dw.reason and info["float_ops"][mul.name] == mul.reason
    xb = _x(5, 2)
    assert_bitexact_with_deploy(q, xb)
    res = assert_emulator_equals(q, U50, tmp_path / "c", xb[:1])
    for n in (dw, mul, hsw):
        assert res.placements[n.name].device == "CPU", n.name
    for scope in ("stem", "pw", "head"):
        n = _node(q, scope)
        assert res.placements[f"{n.name}_fix"].device == "DPU", scope


def test_kv260_runs_the_same_model_whole():
    q = torch_quantizer("float", Mixed().eval(), (_x(),), target="DPUCZDX8G/KV260")
    assert [n.name for n in q.graph.nodes if n.quant == "float"] == []


def test_nndct_target_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NNDCT_TARGET", "DPUCAHX8H_ISA2")
    q = torch_quantizer("float", Mixed().eval(), (_x(),))
    assert q.target.name == "DPUCAHX8H_ISA2"
    assert _node(q, "dw").quant == "float"
    q = torch_quantizer("float", Mixed().eval(), (_x(),), target="DPUCZDX8G/KV260")   # target= wins
    assert _node(q, "dw").quant == "own"


@pytest.mark.parametrize("spec, name", [
    ("DPUCZDX8G/KV260", "DPUCZDX8G_ISA1_B4096"), ("DPUCZDX8G_ISA1_B4096", "DPUCZDX8G_ISA1_B4096"),
    ("dpuczdx8g_isa1_b1024", "DPUCZDX8G_ISA1_B1024"), ("FINGERPRINT", "DPUCZDX8G_ISA1_B4096"),
    ("0x101000016010407", "DPUCZDX8G_ISA1_B4096_0101000016010407"),    # the fingerprint boards publish
    ("AMD_AIE2_Nx4_Overlay", "AMD_AIE2_Nx4_Overlay_cfg0"), ("AMD_AIE2_Nx4_Overlay_cfg0", "AMD_AIE2_Nx4_Overlay_cfg0"),
    ("ARCH", "DPUCZDX8G_ISA1_B4096")])
def test_target_spellings(spec, name):
    if spec == "ARCH":
        from xir.target import arch_root
        spec = str(arch_root() / "DPUCZDX8G" / "KV260" / "arch.json")
    if spec == "FINGERPRINT":
        spec = load_target("DPUCZDX8G_ISA1_B4096").fingerprint_hex
    assert torch_quantizer._target(spec).name == name


def test_ipu_overlay_is_judged_by_its_limits(tmp_path):
    """The overlay is not compilable, but its limits decide what is quantized: its ALU has no hard-swish."""
    torch.manual_seed(0)
    q = quantize_roundtrip(Mixed().eval(), (1, 3, 8, 8), tmp_path, target="AMD_AIE2_Nx4_Overlay")
    assert q.target.name == "AMD_AIE2_Nx4_Overlay_cfg0" and not q.target.compilable
    assert _kind(q, "hard-swish").quant == "float"
    assert _node(q, "dw").quant == "own" and _kind(q, "mul").quant == "own"
    assert_bitexact_with_deploy(q, _x(7, 2))


def test_bad_target_names_list_the_known_ones():
    with pytest.raises(VaiqError, match=r"unknown target 'DPUCZDX8G_B9999'; known: .*DPUCZDX8G/KV260.*"
                                        r"AMD_AIE2_Nx4_Overlay_cfg0"):
        torch_quantizer("float", Mixed().eval(), (_x(),), target="DPUCZDX8G_B9999")
    with pytest.raises(VaiqError, match="fingerprint 0x1234 .*not in the target catalog; known: "):
        torch_quantizer("float", Mixed().eval(), (_x(),), target="0x1234")


def test_test_mode_refuses_another_target(tmp_path):
    torch.manual_seed(0)
    quantize_roundtrip(Mixed().eval(), (1, 3, 8, 8), tmp_path, target=U50)
    with pytest.raises(QuantInfoError, match="calibrated for DPUCAHX8H/U50 but quantizing for no target"):
        torch_quantizer("test", Mixed().eval(), (_x(),), output_dir=str(tmp_path))
    q = torch_quantizer("test", Mixed().eval(), (_x(),), output_dir=str(tmp_path), target="DPUCAHX8H_ISA2")
    assert q.table is not None                       # the same DPU named by its target name
