"""Zero padding as model libraries write it (vaiq/aten_map.py constant_pad): a U-Net's
``F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])`` before its skip ``torch.cat`` is no op when
the maps already match (so the decoder stays one DPU subgraph), W-only padding ``F.pad(x, [l, r])`` and
``nn.ZeroPad2d`` are H/W padding; reflect padding (``nn.ReflectionPad2d``, ``Conv2d(padding_mode=
"reflect")``, CycleGAN-style generators) is XIR's REFLECT pad, run on the CPU; every form is bit-exact from
test mode to the emulator (and the ONNX export runs it)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from vaiq.capture import capture
from vaiq.export_onnx import export_onnx

from flow import assert_bitexact_with_deploy, assert_emulator_equals, quantize_roundtrip


class UpJoin(nn.Module):
    """milesial-style U-Net ``Up``: transposed conv, pad to the skip's size, concat, conv."""

    def __init__(self, wpad=(0, 0)):
        super().__init__()
        torch.manual_seed(0)
        self.down = nn.Conv2d(3, 8, 3, 2, 1)
        self.up = nn.ConvTranspose2d(8, 4, 2, 2)
        self.skip = nn.Conv2d(3, 4, 3, 1, 1)
        self.out = nn.Conv2d(8, 4, 3, 1, 1)
        self.zp = nn.ZeroPad2d((1, 0, 0, 1))
        self.wpad = wpad

    def forward(self, x):
        s = F.relu(self.skip(x))
        x1 = self.up(F.relu(self.down(x)))
        dy, dx = s.size(2) - x1.size(2), s.size(3) - x1.size(3)
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        y = self.out(torch.cat([s, x1], dim=1))
        return F.pad(self.zp(y), list(self.wpad))


def test_zero_pad_is_no_node_and_w_only_pad_is_a_pad():
    g = capture(UpJoin((2, 1)).eval(), (torch.randn(1, 3, 8, 8),))
    pads = [n for n in g.nodes if n.kind == "pad"]
    assert [n.attrs["pad"] for n in pads] == [(1, 0, 0, 1), (2, 1, 0, 0)]    # F.pad of [0, 0, 0, 0] is gone


def test_unet_join_compiles_to_one_dpu_subgraph_bit_exact(tmp_path):
    q = quantize_roundtrip(UpJoin((2, 1)).eval(), (1, 3, 8, 8), tmp_path, batches=2, batch=2)
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    assert_bitexact_with_deploy(q, x)
    res = assert_emulator_equals(q, "DPUCZDX8G/KV260", tmp_path / "kv260", x)
    assert res.placements["cat_fix"].device == "DPU" and len(res.dpu_subgraphs) == 1   # the tail pads: CPU


class ReflectNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.pad = nn.ReflectionPad2d(3)
        self.c0 = nn.Conv2d(3, 8, 7)
        self.c1 = nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect")
        self.c2 = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        return self.c2(F.relu(self.c1(F.relu(self.c0(self.pad(x))))))


def test_reflect_padding_runs_on_the_cpu_bit_exact(tmp_path):
    q = quantize_roundtrip(ReflectNet().eval(), (1, 3, 9, 11), tmp_path, batches=2, batch=2)
    pads = [n for n in q.graph.nodes if n.kind == "pad"]
    assert [(n.attrs["pad"], n.attrs["mode"], n.quant) for n in pads] == [((3, 3, 3, 3), "reflect", "shared"),
                                                                          ((1, 1, 1, 1), "reflect", "shared")]
    x = torch.randn(3, 3, 9, 11, generator=torch.Generator().manual_seed(2))
    assert_bitexact_with_deploy(q, x)
    res = assert_emulator_equals(q, "DPUCZDX8G/KV260", tmp_path / "kv260", x)
    assert [res.placements[f"{n.name}_fix"].code for n in pads] == ["NO_DPU_OP"] * 2
    assert res.placements["conv2d_1_fix"].device == "DPU"
    import onnxruntime as ort
    path = export_onnx(q, tmp_path / "onnx", dynamic_batch=True)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        ref = q.quant_model(x).numpy()
    assert got.shape == ref.shape and float(abs(got - ref).max()) <= 2.0 ** -q.table.get(q.graph.outputs[0])


def test_replicate_padding_names_what_xir_pads():
    class Replicate(nn.Module):
        def forward(self, x):
            return F.pad(x, (1, 1, 1, 1), mode="replicate")
    g = capture(Replicate().eval(), (torch.randn(1, 3, 5, 5),))
    node = next(n for n in g.nodes if n.quant == "float")
    assert "XIR pads CONSTANT, REFLECT or SYMMETRIC" in node.reason
