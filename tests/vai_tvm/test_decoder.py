"""Decoder layers in the TVM flow: a transposed conv with constant weights (+ bias, + activation) and a
nearest resize by integer factors (``upsample``) are DPU patterns, each described as ``vaiq inspect``
describes the same torch layer and judged by ``misfit``; a nearest resize by a factor that is not an
integer stays on TVM's CPU side. A UNet-style decoder becomes one DPU partition whose outputs after the
switch equal vairun's on the compiled partition."""
from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import vai_tvm
from conftest import export_onnx, images
from vaiq.describe import CanonicalView
from xir.target.placement import misfit

tvm = pytest.importorskip("tvm")
from tvm import relax  # noqa: E402

from vai_tvm.dpus import target_of  # noqa: E402
from vai_tvm.partition import dpu_matches  # noqa: E402

SHAPE = (1, 3, 16, 16)
DPU = "DPUCZDX8G-zcu104"


class Decoder(nn.Module):
    """conv, pool, transposed conv (+ relu), concat with the skip, nearest x2 upsample, conv."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.enc = nn.Conv2d(3, 8, 3, padding=1)
        self.up = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.up2 = nn.ConvTranspose2d(16, 4, 3, stride=2, padding=1, output_padding=1)
        self.out = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        a = F.relu(self.enc(x))
        b = F.relu(self.up(F.max_pool2d(a, 2)))
        c = self.up2(torch.cat([b, a], 1))
        return self.out(F.interpolate(c, scale_factor=2, mode="nearest"))


class OddResize(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return F.interpolate(self.c(x), size=(24, 24), mode="nearest")


def _onnx(model) -> bytes:
    return export_onnx(model, SHAPE)


def _key(d):
    return (d.kind, repr(d))


def test_decoder_layers_are_described_as_vaiq_describes_them(tmp_path):
    from vaiq import torch_quantizer
    model = Decoder()
    matches = dpu_matches(vai_tvm.from_onnx(_onnx(model), shape_dict={"x": list(SHAPE)}), DPU)
    names = sorted(n for n, _ in matches)
    assert names.count("conv2d_transpose_bias_act") == 1 and names.count("conv2d_transpose_bias") == 1
    assert names.count("upsample") == 1
    ours = sorted(_key(d) for _, d in matches if d.engine != "alias")
    q = torch_quantizer("float", model, (torch.randn(*SHAPE),), output_dir=str(tmp_path))
    view = CanonicalView(q.graph)
    descs = [view.describe(n) for n in q.graph.nodes if n.quant != "float"]
    target = target_of(DPU)
    theirs = sorted(_key(d) for d in descs if d is not None and d.engine not in (None, "alias")
                    and misfit(d, target) is None)
    assert ours == theirs


def test_a_nearest_resize_by_a_non_integer_factor_stays_on_the_cpu():
    mod = vai_tvm.from_onnx(_onnx(OddResize()), shape_dict={"x": list(SHAPE)})
    assert [n for n, _ in dpu_matches(mod, DPU)] == ["conv2d_bias"]


def test_decoder_is_one_partition_equal_to_vairun(tmp_path):
    import onnx

    import vairun
    from vai_tvm.runtime import output_order, run_compiled

    mod = vai_tvm.partition_for_vitis_ai(vai_tvm.from_onnx(_onnx(Decoder()), shape_dict={"x": list(SHAPE)}), dpu=DPU)
    m = vai_tvm.GraphModule(relax.build(mod, target="llvm"), quant_size=2, build_dir=tmp_path / "b", quiet=True)
    for img in images(3, seed=7):
        m.set_input("x", img)
        m.run()
    assert m.switched and list(m.last_partition_io) == [0]
    ops = {n.op_type for n in onnx.load_from_string(m.parts[0].onnx).graph.node}
    assert {"ConvTranspose", "Resize"} <= ops
    ins, outs = m.last_partition_io[0]
    runner = vairun.GraphRunner(str(tmp_path / "b" / "dpu0" / "compiled" / "dpu0.xmodel"))
    for a, b in zip(outs, run_compiled(runner, output_order(runner, len(outs)), ins)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(m.get_output(0).numpy(), outs[0])
