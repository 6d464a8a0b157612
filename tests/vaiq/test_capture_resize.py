"""A nearest resize to a size that is not an integer multiple (a segmentation head's
``F.interpolate(y, size=x.shape[-2:])`` on an odd-sized input): XIR's NEAREST ``resize`` (source index
floor(i * in / out), xir/kernels/layout.py nearest_indices), a float CPU op; bit-exact from test mode to
the emulator, and the TorchScript and ONNX exports compute it."""
import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

from vaiq.export_onnx import export_onnx

from flow import assert_bitexact_with_deploy, assert_emulator_equals, quantize_roundtrip


class SegHead(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c = nn.Conv2d(3, 8, 3, 2, 1)
        self.o = nn.Conv2d(8, 2, 1)
        self.r = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        y = self.o(F.relu(self.c(x)))
        return self.r(F.interpolate(y, size=x.shape[-2:], mode="nearest"))


def test_non_integer_nearest_resize_is_a_cpu_resize_bit_exact(tmp_path):
    q = quantize_roundtrip(SegHead().eval(), (1, 3, 15, 17), tmp_path, batches=2, batch=2)
    node = next(n for n in q.graph.nodes if n.kind == "resize")
    assert (node.attrs["size"], node.attrs["mode"], node.quant) == ((15, 17), "NEAREST", "float")
    x = torch.randn(3, 3, 15, 17, generator=torch.Generator().manual_seed(6))
    assert_bitexact_with_deploy(q, x)
    res = assert_emulator_equals(q, "DPUCZDX8G/KV260", tmp_path / "kv260", x)
    assert res.placements["conv2d_2_fix"].device == "DPU" and res.placements[node.name].device == "CPU"
    with torch.no_grad():
        ref = q.quant_model(x)
    ts = torch.jit.load(str(q.export_torch_script(output_dir=str(tmp_path / "ts"))))
    assert torch.equal(ts(x), ref)
    path = export_onnx(q, tmp_path / "onnx", dynamic_batch=True)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    step = 2.0 ** -q.table.get(q.graph.outputs[0])
    assert float(np.abs(got - ref.numpy()).max()) <= step


def test_nearest_indices_equal_torch():
    x = torch.arange(8 * 9, dtype=torch.float32).reshape(1, 1, 8, 9)
    from xir.kernels.layout import nearest_indices
    for size in ((15, 17), (5, 7), (13, 9)):
        y = F.interpolate(x, size=size, mode="nearest")
        ys, xs = nearest_indices(8, size[0]), nearest_indices(9, size[1])
        assert torch.equal(y, x[:, :, ys][:, :, :, xs])
