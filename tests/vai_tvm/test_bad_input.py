"""Bad input to the TVM flow: one ``VaiTvmError`` line each, saying what is wrong and what to do."""
from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from conftest import SHAPE, images, onnx_bytes, run_python
from onnx import TensorProto, helper

import vai_tvm
from vai_tvm import VaiTvmError

tvm = pytest.importorskip("tvm")
from tvm import relax  # noqa: E402


def _one_line(e) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg
    return msg


def test_unsupported_dpu_lists_the_known_names():
    mod = vai_tvm.from_onnx(onnx_bytes(), shape_dict={"x": list(SHAPE)})
    with pytest.raises(VaiTvmError) as e:
        vai_tvm.partition_for_vitis_ai(mod, dpu="DPUCZDX8G-zcu999")
    msg = _one_line(e)
    assert "DPUCZDX8G-zcu999" in msg
    for name in ("DPUCZDX8G-zcu104", "DPUCZDX8G-zcu102", "DPUCADX8G", "DPUCADF8H", "DPUCZDX8G/KV260"):
        assert name in msg
    assert "IPU_PHX" not in msg, "a quantization-only target is no dpu"


def test_original_and_catalog_names_both_work():
    from vai_tvm.dpus import target_of
    assert target_of("DPUCZDX8G-zcu102").name == target_of("dpuczdx8g/zcu102").name
    assert target_of("DPUCADF8H").name.startswith("DPUCADF8H")


def test_a_model_tvm_cannot_import_points_at_vaiq():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    g = helper.make_graph([helper.make_node("NoSuchOp", ["x"], ["y"], domain="com.example")], "g", [x], [y])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    with pytest.raises(VaiTvmError) as e:
        vai_tvm.from_onnx(model)
    msg = _one_line(e)
    assert msg.startswith("TVM cannot import") and "vaiq quantize --model" in msg
    with pytest.raises(VaiTvmError) as e:
        vai_tvm.from_onnx(b"not an onnx model")
    assert "is not an ONNX model" in _one_line(e)
    with pytest.raises(VaiTvmError) as e:
        vai_tvm.partition_for_vitis_ai(onnx.load_from_string(onnx_bytes()))
    assert "IRModule" in _one_line(e)


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5", ""])
def test_px_quant_size_must_be_a_positive_integer(flow, monkeypatch, value):
    monkeypatch.setenv("PX_QUANT_SIZE", value)
    with pytest.raises(VaiTvmError) as e:
        vai_tvm.GraphModule(relax.build(flow.mod, target="llvm"))
    assert "PX_QUANT_SIZE" in _one_line(e) and "positive integer" in str(e.value)


def test_quant_size_argument_is_checked_too(flow):
    with pytest.raises(VaiTvmError) as e:
        vai_tvm.GraphModule(relax.build(flow.mod, target="llvm"), quant_size=0)
    assert "quant_size" in _one_line(e)


def test_run_before_set_input(flow, tmp_path):
    m = vai_tvm.GraphModule(relax.build(flow.mod, target="llvm"), build_dir=tmp_path / "b")
    with pytest.raises(VaiTvmError) as e:
        m.run()
    assert "set_input" in _one_line(e)
    with pytest.raises(VaiTvmError) as e:
        m.set_input("nope", images(1)[0])
    assert "'x'" in _one_line(e)


def _fresh_module(flow, build_dir):
    """A module over a new build of the partitioned model (flow.ex carries its build since the switch)."""
    return vai_tvm.GraphModule(relax.build(flow.mod, target="llvm"), build_dir=build_dir, quiet=True)


def _run_once(m):
    m.set_input("x", images(1)[0])
    m.run()


def test_a_folder_that_is_no_build_is_refused_naming_it(flow, tmp_path):
    d = tmp_path / "other"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    with pytest.raises(VaiTvmError) as e:
        _fresh_module(flow, d)
    msg = _one_line(e)
    assert str(d) in msg and "notes.txt" in msg and "meta.json" in msg


def _copy_build(flow, tmp_path):
    d = tmp_path / "build"
    shutil.copytree(flow.build_dir, d)
    return d


def test_a_corrupt_meta_json_is_refused_naming_it(flow, tmp_path):
    d = _copy_build(flow, tmp_path)
    (d / "meta.json").write_text("{ not json")
    with pytest.raises(VaiTvmError) as e:
        _run_once(_fresh_module(flow, d))
    assert str(d / "meta.json") in _one_line(e)


def test_a_changed_file_is_refused_naming_it(flow, tmp_path):
    d = _copy_build(flow, tmp_path)
    qi = d / "dpu1" / "quant_info.json"
    qi.write_text(qi.read_text().replace("8", "7", 1))
    with pytest.raises(VaiTvmError) as e:
        _run_once(_fresh_module(flow, d))
    assert str(qi) in _one_line(e)


@pytest.mark.parametrize("field,value,words", [("model_key", "0" * 32, "another model"),
                                               ("format", "something-else", "not a vai_tvm build")])
def test_a_foreign_build_is_refused(flow, tmp_path, field, value, words):
    d = _copy_build(flow, tmp_path)
    meta = json.loads((d / "meta.json").read_text())
    meta[field] = value
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(VaiTvmError) as e:
        _run_once(_fresh_module(flow, d))
    msg = _one_line(e)
    assert str(d / "meta.json") in msg and words in msg


def test_unsupported_tvm_version_names_the_extra():
    from vai_tvm.tvm_check import check_version
    with pytest.raises(VaiTvmError) as e:
        check_version("0.20.0")
    assert "0.20.0" in _one_line(e) and ".[tvm]" in str(e.value)


def test_missing_tvm_names_the_extra():
    r = run_python("import sys; sys.modules['tvm'] = None\n"
                   "import vai_tvm\n"
                   "try:\n    vai_tvm.GraphModule\nexcept vai_tvm.VaiTvmError as e:\n    print('ERR', e)\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ERR Apache TVM is not installed") and ".[tvm]" in r.stdout
    assert r.stdout.count("\n") == 1


def test_outputs_before_run(flow, tmp_path):
    m = vai_tvm.GraphModule(relax.build(flow.mod, target="llvm"), build_dir=tmp_path / "b")
    with pytest.raises(VaiTvmError):
        m.get_output(0)
    assert m.get_num_outputs() == 1
    m.set_input("x", images(1)[0])
    m.run()
    assert m.get_num_outputs() == 1 and m.get_output(0).numpy().shape == (1, 5)
    with pytest.raises(VaiTvmError):
        m.get_output(3)
    assert not m.switched and m.runs == 1 and np.isfinite(m.get_output(0).numpy()).all()


def test_an_input_of_the_wrong_shape(flow, tmp_path):
    m = vai_tvm.GraphModule(relax.build(flow.mod, target="llvm"), build_dir=tmp_path / "b")
    m.set_input("x", np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(VaiTvmError) as e:
        m.run()
    msg = _one_line(e)
    assert msg.startswith("the model failed in TVM") and "param=x" in msg and "16" in msg
