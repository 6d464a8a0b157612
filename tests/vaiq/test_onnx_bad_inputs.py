"""Bad ONNX input to the vaiq command line: one clear line, exit code 2, no traceback, nothing written
(and OnnxModelError from the Python API)."""
import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import helper as h

from vaiq.cli import cli
from vaiq.errors import OnnxModelError, VaiqError
from vaiq.onnx_frontend import load_onnx

from onnx_graphs import model


def _relu(shape=(1, 3, 8, 8), opset=17):
    return model([h.make_node("Relu", ["x"], ["y"])], {"x": shape}, ["y"], opset=opset)


def _dynamic(dims=(2,)):
    """The ReLU model with dimensions ``dims`` of its input dynamic (default: H)."""
    m = _relu()
    for i in dims:
        m.graph.input[0].type.tensor_type.shape.dim[i].dim_param = f"d{i}"
    return m


def _unchecked():
    m = _relu()
    m.graph.node[0].input[0] = "nowhere"
    return m


CASES = {
    "not_onnx": (lambda p: p.write_bytes(b"this is not a protobuf \x00\xff" * 7), [], "not an ONNX model"),
    "checker": (lambda p: onnx.save(_unchecked(), p), [], "fails onnx.checker"),
    "dynamic": (lambda p: onnx.save(_dynamic(), p), [], "dynamic dimensions"),
    "unknown_input": (lambda p: onnx.save(_relu(), p), ["--input-shape", "img:1,3,8,8"], "no input of the model"),
    "old_opset": (lambda p: onnx.save(_relu(opset=11), p), [], "older than 13"),
    "shape_conflict": (lambda p: onnx.save(_relu(), p), ["--input-shape", "x:1,3,9,8"], "fixed to 8"),
    "weights": (lambda p: onnx.save(_relu(), p), ["--weights", "w.pt"], "--weights does not apply"),
    "missing": (lambda p: None, [], "no such ONNX file"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cli_bad_onnx_is_one_line_exit_2(case, tmp_path):
    write, extra, message = CASES[case]
    path = tmp_path / "m.onnx"
    write(path)
    np.save(tmp_path / "calib.npy", np.zeros((2, 3, 8, 8), np.float32))
    out = tmp_path / "q"
    for cmd in (["quantize", "--calib-data", str(tmp_path / "calib.npy"), "--output", str(out)], ["inspect"]):
        r = CliRunner().invoke(cli, cmd + ["--model", str(path)] + extra)
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert r.exit_code == 2, r.output
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.output, r.output
    assert not out.exists()


def test_python_api_raises_onnx_model_error():
    with pytest.raises(OnnxModelError, match="dynamic dimensions"):
        load_onnx(_dynamic())
    with pytest.raises(OnnxModelError, match="no input of the model"):
        load_onnx(_relu(), {"nope": (1, 3, 8, 8)})
    with pytest.raises(OnnxModelError, match="not an ONNX model"):
        load_onnx(b"\x08\x01garbage")
    with pytest.raises(OnnxModelError, match=r"dynamic dimensions \(d0x3xd2x8\)"):
        load_onnx(_dynamic((0, 2)))
    assert issubclass(OnnxModelError, VaiqError)
    m = load_onnx(_dynamic((0, 2)), {"x": (4, 3, 8, 8)})
    assert m.input_shapes == {"x": (4, 3, 8, 8)}


def test_a_dynamic_batch_alone_is_one_image():
    assert load_onnx(_dynamic((0,))).input_shapes == {"x": (1, 3, 8, 8)}
    assert load_onnx(_dynamic((0,)), {"x": (4, 3, 8, 8)}).input_shapes == {"x": (4, 3, 8, 8)}


def test_an_op_nothing_can_run_is_named():
    m = model([h.make_node("Relu", ["x"], ["y"])], {"x": (1, 3)}, ["y"])
    m.graph.node[0].op_type = "NoSuchOp"
    m.graph.node[0].domain = "example.custom"
    m.opset_import.append(h.make_opsetid("example.custom", 1))
    with pytest.raises(OnnxModelError, match="NoSuchOp"):
        load_onnx(m)
