"""ONNX Clip in the TVM flow: TVM imports it as two TE computations (maximum, then minimum);
``vai_tvm.clip`` rewrites them as ``relax.clip`` with the same values, and a clip to [0, 6] (ReLU6) after
a conv or dense layer joins the DPU pattern as its fused activation, judged by ``misfit`` like ReLU. Other
bounds stay on TVM's CPU side."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from torch import nn

import vai_tvm
from conftest import export_onnx, images

tvm = pytest.importorskip("tvm")
from tvm import relax  # noqa: E402

from vai_tvm.clip import clips_as_relax_op  # noqa: E402
from vai_tvm.partition import dpu_matches  # noqa: E402

SHAPE = (1, 3, 16, 16)


class Clips(nn.Module):
    """conv + ReLU6, depthwise conv + ReLU6, conv + clamp(-1, 1) (no DPU activation), flatten, dense + ReLU6."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.b = nn.Conv2d(8, 4, 1)
        self.fc = nn.Linear(4 * 16 * 16, 10)

    def forward(self, x):
        y = nn.functional.relu6(self.dw(nn.functional.relu6(self.a(x))))
        y = torch.clamp(self.b(y), -1.0, 1.0)
        return nn.functional.relu6(self.fc(y.flatten(1)))


def _onnx() -> bytes:
    torch.manual_seed(0)
    return export_onnx(Clips(), SHAPE)


def _calls(mod) -> list[str]:
    return [b.value.op.name for block in mod["main"].body.blocks for b in block.bindings
            if isinstance(b.value, tvm.ir.Call) and isinstance(b.value.op, tvm.ir.Op)]


def _run(mod, x):
    vm = relax.VirtualMachine(relax.build(mod, target="llvm"), tvm.cpu())
    return vm["main"](tvm.runtime.tensor(x)).numpy()


def test_imported_clips_become_relax_clip_with_the_same_values():
    mod = vai_tvm.from_onnx(_onnx(), shape_dict={"x": list(SHAPE)})
    assert _calls(mod).count("relax.call_tir") == 8 and "relax.clip" not in _calls(mod)
    out = clips_as_relax_op(mod)
    calls = _calls(out)
    assert calls.count("relax.clip") == 4 and "relax.call_tir" not in calls and "relax.where" not in calls
    assert [gv.name_hint for gv in out.get_global_vars()] == ["main"]      # the TE functions are gone
    x = images(1)[0] * 8
    np.testing.assert_array_equal(_run(mod, x), _run(out, x))


def test_relu6_joins_the_dpu_pattern_and_other_bounds_stay_on_the_cpu():
    mod = vai_tvm.from_onnx(_onnx(), shape_dict={"x": list(SHAPE)})
    matches = dpu_matches(mod)
    acts = sorted((n, d.kind, d.act) for n, d in matches if n.startswith(("conv2d", "dense")))
    assert acts == [("conv2d_bias", "conv2d-fix", "NONE"),
                    ("conv2d_bias_act", "conv2d-fix", "RELU6"),
                    ("conv2d_bias_act", "depthwise-conv2d-fix", "RELU6"),
                    ("dense_bias_act", "conv2d-fix", "RELU6")]
    part = vai_tvm.partition_for_vitis_ai(mod)
    assert _calls(part).count("relax.clip") == 1      # clamp(-1, 1) is TVM's: between two DPU partitions
    assert _calls(part).count("relax.call_dps_packed") == 2


def test_clip_partitions_run_on_the_dpu_and_equal_vairun(tmp_path):
    import vairun
    from vai_tvm.runtime import output_order, run_compiled

    mod = vai_tvm.partition_for_vitis_ai(vai_tvm.from_onnx(_onnx(), shape_dict={"x": list(SHAPE)}))
    m = vai_tvm.GraphModule(relax.build(mod, target="llvm"), quant_size=2, build_dir=tmp_path / "b", quiet=True)
    float_y = []
    for img in images(3, seed=5):
        m.set_input("x", img)
        m.run()
        float_y.append(m.get_output(0).numpy())
    assert m.switched and len(m.last_partition_io) == 2
    import onnx
    ops = [{n.op_type for n in onnx.load_from_string(p.onnx).graph.node} for p in m.parts.values()]
    assert all("Clip" in o for o in ops)
    for k, (ins, outs) in m.last_partition_io.items():
        runner = vairun.GraphRunner(str(tmp_path / "b" / f"dpu{k}" / "compiled" / f"dpu{k}.xmodel"))
        for a, b in zip(outs, run_compiled(runner, output_order(runner, len(outs)), ins)):
            np.testing.assert_array_equal(a, b)
    y = m.get_output(0).numpy()
    assert y.min() >= 0 and y.max() <= 6
