"""HardSwish, HardSigmoid and squeeze-excite gates in the TVM flow (MobileNetV3's layers): TVM imports HardSwish
as ``x * (clip(x + 3, 0, 6) / 6)`` and HardSigmoid as ``clip(alpha * x + beta, 0, 1)``; with the HardSwish
constants, or alpha 1/6 and beta 1/2, they are DPU patterns of their own (vaiq fuses neither into the op
before it), and an image times a computed gate is an element-wise multiply pattern, each described as
``vaiq inspect`` describes the same torch layer. Other constants stay on TVM's CPU side.
"""
from __future__ import annotations


import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
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


class V3Block(nn.Module):
    """conv + hardswish, depthwise conv + hardswish, squeeze-excite with a hard-sigmoid gate, conv,
    global pool, dense + hardswish, dense."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c0 = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.se1, self.se2 = nn.Conv2d(16, 4, 1), nn.Conv2d(4, 16, 1)
        self.c1 = nn.Conv2d(16, 8, 1)
        self.fc1, self.fc2 = nn.Linear(8, 12), nn.Linear(12, 5)

    def forward(self, x):
        x = nn.functional.hardswish(self.c0(x))
        x = nn.functional.hardswish(self.dw(x))
        g = nn.functional.hardsigmoid(self.se2(torch.relu(self.se1(x.mean((2, 3), keepdim=True)))))
        x = self.c1(x * g)
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc2(nn.functional.hardswish(self.fc1(x)))


def _onnx() -> bytes:
    return export_onnx(V3Block(), SHAPE)


def _key(d):
    return (d.kind, repr(d))


def test_hard_activations_and_gates_are_described_as_vaiq_describes_them(tmp_path):
    from vaiq import torch_quantizer
    matches = dpu_matches(vai_tvm.from_onnx(_onnx(), shape_dict={"x": list(SHAPE)}), DPU)
    names = [n for n, _ in matches]
    # vaiq keeps hard activations separate ops (identity depthwise ops on this DPU), and so does vai_tvm
    assert names.count("hswish") == 3 and names.count("hsigmoid") == 1
    assert names.count("multiply") == 1
    ours = sorted(_key(d) for _, d in matches if d.engine != "alias")
    model = V3Block().eval()
    q = torch_quantizer("float", model, (torch.randn(*SHAPE),), output_dir=str(tmp_path))
    view = CanonicalView(q.graph)
    target = target_of(DPU)
    theirs = sorted(_key(d) for d in (view.describe(n) for n in q.graph.nodes if n.quant != "float")
                    if d is not None and d.engine not in (None, "alias") and misfit(d, target) is None)
    assert ours == theirs


def test_v3_block_is_one_partition_equal_to_vairun(tmp_path):
    import onnx

    import vairun
    from vai_tvm.runtime import output_order, run_compiled

    mod = vai_tvm.partition_for_vitis_ai(vai_tvm.from_onnx(_onnx(), shape_dict={"x": list(SHAPE)}), dpu=DPU)
    m = vai_tvm.GraphModule(relax.build(mod, target="llvm"), quant_size=2, build_dir=tmp_path / "b", quiet=True)
    for img in images(3, seed=11):
        m.set_input("x", img)
        m.run()
    assert m.switched and list(m.last_partition_io) == [0]
    ops = [n.op_type for n in onnx.load_from_string(m.parts[0].onnx).graph.node]
    assert ops.count("HardSwish") == 3 and ops.count("HardSigmoid") == 1 and ops.count("Mul") == 1
    ins, outs = m.last_partition_io[0]
    runner = vairun.GraphRunner(str(tmp_path / "b" / "dpu0" / "compiled" / "dpu0.xmodel"))
    for a, b in zip(outs, run_compiled(runner, output_order(runner, len(outs)), ins)):
        np.testing.assert_array_equal(a, b)


def test_hard_sigmoid_with_other_constants_stays_on_the_cpu():
    """ONNX HardSigmoid's defaults (alpha 0.2) are not the DPU's hard-sigmoid."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array((rng.standard_normal((4, 3, 1, 1)) * 0.3).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("HardSigmoid", ["c"], ["y"])]
    g = helper.make_graph(nodes, "hs", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 16])], [w])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    assert [n for n, _ in dpu_matches(vai_tvm.from_onnx(model, shape_dict={"x": list(SHAPE)}), DPU)] == ["conv2d"]
