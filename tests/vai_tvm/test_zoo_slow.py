"""Slow: the zoo's ResNet-18 through the TVM flow on two DPU families, checked against vairun."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import vai_tvm

tvm = pytest.importorskip("tvm")
from tvm import relax  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("dpu", ["DPUCZDX8G-zcu104", "DPUCADF8H"])
def test_resnet18_switches_and_equals_vairun(dpu, tmp_path):
    import torch

    import vairun
    from vai_tvm.runtime import output_order, run_compiled
    from vaiq.zoo import get_model

    size = 32
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(get_model("resnet18", input_shape=(1, 3, size, size)), (torch.zeros(1, 3, size, size),), f,
                          input_names=["x"], dynamo=False, opset_version=17)
    mod = vai_tvm.partition_for_vitis_ai(vai_tvm.from_onnx(f.getvalue(), shape_dict={"x": [1, 3, size, size]}),
                                         dpu=dpu)
    m = vai_tvm.GraphModule(relax.build(mod, target="llvm"), quant_size=2, build_dir=tmp_path / "b", quiet=True)
    rng = np.random.RandomState(0)
    for _ in range(3):
        m.set_input("x", rng.uniform(-1, 1, (1, 3, size, size)).astype(np.float32))
        m.run()
    assert m.switched and len(m.parts) >= 1
    for k, p in m.parts.items():
        runner = vairun.GraphRunner(str(tmp_path / "b" / p.header["name"] / "compiled" / f"{p.header['name']}.xmodel"))
        ins, outs = m.last_partition_io[k]
        for a, b in zip(outs, run_compiled(runner, output_order(runner, len(outs)), ins)):
            np.testing.assert_array_equal(a, b)
    assert m.get_output(0).numpy().shape == (1, 1000)
