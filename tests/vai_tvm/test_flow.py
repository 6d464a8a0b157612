"""The TVM flow end to end on a CNN with a CPU op between two DPU regions: partition, float recording,
the on-the-fly switch, the two equalities after it, build-folder reuse and export/reload in fresh processes."""
from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from conftest import QUANT_SIZE, SHAPE, export_onnx, images, onnx_bytes, partitioned, run_python

import vai_tvm
from vai_tvm.partition import PACKED
from vai_tvm.record import decode_record

tvm = pytest.importorskip("tvm")
from tvm import relax  # noqa: E402


def _packed_calls(mod) -> list:
    calls = []

    def visit(e):
        if isinstance(e, tvm.ir.Call) and getattr(e.op, "name", "") == "relax.call_dps_packed":
            calls.append(e)
    relax.analysis.post_order_visit(mod["main"], visit)
    return calls


def _float_build(model: bytes):
    mod = vai_tvm.from_onnx(model, shape_dict={"x": list(SHAPE)})
    return relax.VirtualMachine(relax.build(mod, target="llvm"), tvm.cpu())


def test_partition_gives_two_dpu_regions_around_the_cpu_op():
    mod = partitioned(onnx_bytes())
    calls = _packed_calls(mod)
    assert len(calls) == 2 and all(c.args[0].global_symbol == PACKED for c in calls)
    text = mod["main"].script(show_meta=False)
    assert "R.tanh" in text and "R.nn.conv2d" not in text and "R.matmul" not in text
    headers = [decode_record(np.from_dlpack(c.args[1].fields[0].value).tobytes())[0] for c in calls]
    assert sorted(h["index"] for h in headers) == [0, 1]
    assert {h["dpu"] for h in headers} == {"DPUCZDX8G/ZCU104"} and len({h["model_key"] for h in headers}) == 1


def test_an_op_the_dpu_does_not_take_stays_on_the_cpu():
    """Placement is misfit's: a 17x17 conv exceeds the DPUCZDX8G kernel range and stays in TVM's CPU build,
    its neighbours form the DPU regions on either side."""
    import torch
    from torch import nn

    class Wide(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 17, padding=8)
            self.c = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            return self.c(torch.relu(self.b(torch.relu(self.a(x)))))
    mod = partitioned(export_onnx(Wide(), output_names=None))
    text = mod["main"].script(show_meta=False)
    assert len(_packed_calls(mod)) == 2 and text.count("R.nn.conv2d") == 1


def test_float_runs_equal_tvm_float(flow):
    vm = _float_build(flow.model_path.read_bytes())
    for img, got in zip(images(QUANT_SIZE), flow.float_outputs):
        want = vm["main"](tvm.runtime.tensor(img)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert flow.m.switched and flow.m.runs == QUANT_SIZE


def test_switch_says_so_and_writes_the_build_folder(flow):
    assert f"{QUANT_SIZE} calibration runs recorded" in flow.progress
    assert "switched to the DPU" in flow.progress
    meta = json.loads((flow.build_dir / "meta.json").read_text())
    assert meta["format"] == "vai_tvm-build-1" and meta["quant_size"] == QUANT_SIZE
    assert meta["dpu"] == "DPUCZDX8G/ZCU104" and [p["name"] for p in meta["partitions"]] == ["dpu0", "dpu1"]
    for name in ("dpu0", "dpu1"):
        d = flow.build_dir / name
        assert (d / "quant_info.json").is_file()
        assert list(d.glob("*_int.xmodel")), "vaiq's deploy xmodel"
        assert (d / "compiled" / f"{name}.xmodel").is_file() and (d / "compiled" / "md5sum.txt").is_file()
        assert f"{name}/quant_info.json" in meta["files"]


def test_after_switch_dpu_parts_equal_vairun_and_cpu_parts_equal_tvm(flow):
    import vairun
    from vai_tvm.runtime import output_order, run_compiled
    m = flow.m
    img = images(1, seed=7)[0]
    m.set_input("x", img)
    m.run()
    y = m.get_output(0).numpy()
    io = m.last_partition_io
    # DPU partitions: vairun directly on the cached compiled xmodel with the recorded partition inputs
    for k in (0, 1):
        runner = vairun.GraphRunner(str(flow.build_dir / f"dpu{k}" / "compiled" / f"dpu{k}.xmodel"))
        ins, outs = io[k]
        direct = run_compiled(runner, output_order(runner, len(outs)), ins)
        for a, b in zip(outs, direct):
            np.testing.assert_array_equal(a, b)
    # CPU parts: TVM's float build of them on the DPU outputs (tanh between the partitions; the model's
    # output is dpu1's)
    x = relax.Var("t", relax.TensorType(list(io[0][1][0].shape), "float32"))
    bb = relax.BlockBuilder()
    with bb.function("main", [x]):
        with bb.dataflow():
            gv = bb.emit_output(relax.op.tanh(x))
        bb.emit_func_output(gv)
    tanh = relax.VirtualMachine(relax.build(bb.get(), target="llvm"), tvm.cpu())
    np.testing.assert_array_equal(io[1][0][0], tanh["main"](tvm.runtime.tensor(io[0][1][0])).numpy())
    np.testing.assert_array_equal(y, io[1][1][0])
    # and it is a quantized result: close to the float model, not equal to it
    want = _float_build(flow.model_path.read_bytes())["main"](tvm.runtime.tensor(img)).numpy()
    assert not np.array_equal(y, want)
    assert np.abs(y - want).max() < 0.25 * max(1.0, np.abs(want).max())
    flow.after = (img, y)


_REUSE = r"""
import sys, numpy as np, tvm
from tvm import relax
import vai_tvm
mod = vai_tvm.from_onnx(sys.argv[1] if len(sys.argv) > 1 else {model!r}, shape_dict={{"x": [1, 3, 16, 16]}})
mod = vai_tvm.partition_for_vitis_ai(mod, dpu="DPUCZDX8G-zcu104")
m = vai_tvm.GraphModule(relax.build(mod, target="llvm"))
m.set_input("x", np.load({img!r}))
m.run()
assert m.switched, "a finished build starts on the DPU at once"
np.save({out!r}, m.get_output(0).numpy())
"""


def test_build_folder_reuse_in_a_fresh_process(flow, tmp_path):
    if not hasattr(flow, "after"):
        test_after_switch_dpu_parts_equal_vairun_and_cpu_parts_equal_tvm(flow)
    img, y = flow.after
    np.save(tmp_path / "img.npy", img)
    code = _REUSE.format(model=str(flow.model_path), img=str(tmp_path / "img.npy"), out=str(tmp_path / "y.npy"))
    r = run_python(code, {"PX_BUILD_DIR": str(flow.build_dir)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "finished build" in r.stderr and "calibration runs" not in r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), y)


_RELOAD = r"""
import numpy as np, tvm
import vai_tvm
m = vai_tvm.GraphModule(tvm.runtime.load_module({lib!r}))
m.set_input("x", np.load({img!r}))
m.run()
assert m.switched, "the library carries its DPU programs"
np.save({out!r}, m.get_output(0).numpy())
"""


def test_export_library_reloads_in_a_fresh_process(flow, tmp_path):
    if not hasattr(flow, "after"):
        test_after_switch_dpu_parts_equal_vairun_and_cpu_parts_equal_tvm(flow)
    img, y = flow.after
    lib = tmp_path / "deploy_lib.so"
    flow.ex.export_library(str(lib))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deploy_lib.so"], "no side file: the build is inside"
    np.save(tmp_path / "img.npy", img)
    # run from another folder with no build folder in reach: the DPU programs come from the library
    code = _RELOAD.format(lib=str(lib), img=str(tmp_path / "img.npy"), out=str(tmp_path / "y.npy"))
    r = run_python(code, cwd=str(tmp_path.parent))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "from the library" in r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), y)


def test_region_onnx_matches_onnxruntime(flow):
    """The Relax -> ONNX converter: each region's ONNX on onnxruntime gives the float outputs the region
    gave during calibration (vaiq's ONNX frontend computed them in torch)."""
    from vai_tvm.runtime import _Partition
    for p in flow.m.parts.values():
        fresh = _Partition(p.header, p.onnx)
        ins = [np.random.RandomState(p.header["index"]).uniform(-1, 1, s).astype(np.float32)
               for s in p.header["inputs"]]
        sess = ort.InferenceSession(p.onnx)
        want = sess.run(None, {f"in{i}": a for i, a in enumerate(ins)})
        for a, b in zip(fresh.run_float(ins), want):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_region_with_two_outputs_one_consumed_inside(tmp_path):
    """conv+relu feeds both the next conv (inside the region) and a CPU op: the region has two outputs,
    and after the switch both equal vairun's on the compiled partition."""
    import torch
    from torch import nn

    import vairun
    from vai_tvm.runtime import output_order, run_compiled

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            y1 = torch.relu(self.a(x))
            return torch.tanh(y1) * torch.sigmoid(torch.relu(self.b(y1)))
    torch.manual_seed(0)
    mod = partitioned(export_onnx(Two(), output_names=None))
    assert len(_packed_calls(mod)) == 1
    m = vai_tvm.GraphModule(relax.build(mod, target="llvm"), quant_size=2, build_dir=tmp_path / "b", quiet=True)
    for img in images(3, seed=3):
        m.set_input("x", img)
        m.run()
    assert m.switched
    import onnx
    region = onnx.load_from_string(next(iter(m.parts.values())).onnx)
    assert "MaxPool" not in {n.op_type for n in region.graph.node}, "the consumed output needs no copy"
    ins, outs = m.last_partition_io[0]
    assert len(outs) == 2
    runner = vairun.GraphRunner(str(tmp_path / "b" / "dpu0" / "compiled" / "dpu0.xmodel"))
    for a, b in zip(outs, run_compiled(runner, output_order(runner, 2), ins)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(outs[0], outs[1])
