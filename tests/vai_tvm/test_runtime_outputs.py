"""``GraphModule.get_num_outputs()`` answers before the first run for a module ``partition_for_vitis_ai``
made (also after ``export_library`` / ``load_module``), and equals the outputs a run gives."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import vai_tvm
from vai_tvm import VaiTvmError

tvm = pytest.importorskip("tvm")
from tvm import relax  # noqa: E402

SHAPE = (1, 3, 8, 8)


def two_output_model() -> bytes:
    """conv + relu -> output ``a``; a max pool of it -> output ``b``."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.2, "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["a"]),
             helper.make_node("MaxPool", ["a"], ["b"], kernel_shape=[2, 2], strides=[2, 2])]
    g = helper.make_graph(nodes, "two_out", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 4, 8, 8]),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 4, 4, 4])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("exported", [False, True])
def test_num_outputs_before_the_first_run(tmp_path, exported):
    mod = vai_tvm.from_onnx(two_output_model(), shape_dict={"x": list(SHAPE)})
    ex = relax.build(vai_tvm.partition_for_vitis_ai(mod), target="llvm")
    if exported:
        ex.export_library(str(tmp_path / "lib.so"))
        ex = tvm.runtime.load_module(str(tmp_path / "lib.so"))
    m = vai_tvm.GraphModule(ex, quant_size=2, build_dir=tmp_path / "b", quiet=True)
    assert m.get_num_outputs() == 2
    m.set_input("x", np.ones(SHAPE, np.float32))
    m.run()
    assert m.get_num_outputs() == 2
    assert [m.get_output(i).numpy().shape for i in range(2)] == [(1, 4, 8, 8), (1, 4, 4, 4)]


def test_a_module_not_partitioned_knows_its_outputs_after_a_run(tmp_path):
    mod = vai_tvm.from_onnx(two_output_model(), shape_dict={"x": list(SHAPE)})
    m = vai_tvm.GraphModule(relax.build(mod, target="llvm"), build_dir=tmp_path / "b", quiet=True)
    with pytest.raises(VaiTvmError, match="call run"):
        m.get_num_outputs()
    m.set_input("x", np.ones(SHAPE, np.float32))
    m.run()
    assert m.get_num_outputs() == 2
