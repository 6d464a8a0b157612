"""vaic's command line: outputs, determinism, the compile log, and one clear line for every bad input."""
import hashlib
import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import xir
from vaic.cli import main

from flow import quantize_roundtrip


@pytest.fixture(scope="module")
def qmodel(tmp_path_factory):
    from vaiq.zoo import MODELS, get_model
    d = tmp_path_factory.mktemp("q")
    q = quantize_roundtrip(get_model("partial_net"), MODELS["partial_net"].input_shape, d)
    return q.export_xmodel()


def run(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.output


def test_compile_writes_the_three_files(qmodel, tmp_path):
    out = tmp_path / "out"
    code, log = run("-x", qmodel, "-a", "DPUCZDX8G/KV260", "-o", out, "-n", "pn")
    assert code == 0, log
    assert sorted(p.name for p in out.iterdir()) == ["md5sum.txt", "meta.json", "pn.xmodel"]
    data = (out / "pn.xmodel").read_bytes()
    assert (out / "md5sum.txt").read_text() == hashlib.md5(data).hexdigest() + "\n"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["filename"] == "pn.xmodel" and meta["target"] == "DPUCZDX8G_ISA1_B4096"
    assert "Total device subgraph number" in log and "DPU subgraph number" in log
    g = xir.Graph.deserialize(out / "pn.xmodel")
    kids = g.get_root_subgraph().toposort_child_subgraph()
    assert kids[0].get_attr("device") == "USER"
    assert {k.get_attr("device") for k in kids} <= {"USER", "DPU", "CPU"}
    assert meta["kernel"] == [k.get_name() for k in kids if k.get_attr("device") == "DPU"]
    for k in kids:
        if k.get_attr("device") == "CPU":
            for op, why in k.get_attr("cpu_reasons").items():
                assert f"CPU op {op}: {why}" in log
    # a DPU subgraph's parameters are stored once: in its parameter register, not in its constants
    dpu = [k for k in kids if k.get_attr("device") == "DPU"]
    consts = [op for k in dpu for op in k.get_ops() if op.get_type() == "const-fix"]
    assert consts and not any(op.has_attr("data") for op in consts)
    assert all(op.get_output_tensor().has_attr("fix_point") for op in consts)
    assert sum(len(k.get_attr("reg_id_to_parameter_value")["REG_0"]) for k in dpu) >= sum(
        op.get_output_tensor().get_element_num() for op in consts)


def test_output_is_deterministic_and_vai_c_xir_long_flags(qmodel, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run("-x", qmodel, "-a", "DPUCADF8H/U250", "-o", a, "-n", "n")[0] == 0
    assert run("--xmodel", qmodel, "--arch", "DPUCADF8H/U250", "--output_dir", b, "--net_name", "n")[0] == 0
    assert (a / "n.xmodel").read_bytes() == (b / "n.xmodel").read_bytes()


def test_arch_json_forms(qmodel, tmp_path):
    from xir.target import load_target
    t = load_target("DPUCZDX8G/KV260")
    for i, content in enumerate(({"target": t.name}, {"fingerprint": t.fingerprint_hex})):
        arch = tmp_path / f"arch{i}.json"
        arch.write_text(json.dumps(content))
        code, log = run("-x", qmodel, "-a", arch, "-o", tmp_path / f"o{i}", "-n", "n")
        assert code == 0, log


def _float_model(path):
    g = xir.Graph("float_net")
    x = g.create_op("x", "data", {"shape": [1, 4, 4, 3], "data_type": "float32"})
    w = g.create_const_op("w", np.ones((2, 1, 1, 3), np.float32))
    g.create_op("c", "conv2d", {"kernel": [1, 1]}, {"input": [x], "weights": [w]})
    g.serialize(path)
    return path


@pytest.mark.parametrize("case, message", [
    ("arch_unknown", "unknown target 'DPUCZDX8G/ZCU999'; known: DPUCADF8H/U200"),
    ("arch_malformed", "arch.json"),
    ("arch_fingerprint", "not in"),
    ("not_xmodel", "not an .xmodel"),
    ("float_model", "a float (unquantized) model"),
    ("output_ops", "output_ops names 'nope'"),
    ("bad_options", "--options is not valid JSON"),
    ("unknown_option", "unknown key(s) ['speed']"),
    ("input_shape", "does not match input"),
    ("ipu", "hardware-aware quantization only"),
    ("missing", "no such file"),
    ("compiled", "already compiled"),
    ("net_up", "must be a plain file name"),
    ("net_slash", "must be a plain file name"),
    ("net_dot", "must be a plain file name"),
    ("net_long", "longer than 200"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, message, qmodel, tmp_path):
    out = tmp_path / "out"
    x, a, opts, net = qmodel, "DPUCZDX8G/KV260", None, "n"
    net = {"net_up": "../x", "net_slash": "a/b", "net_dot": ".", "net_long": "n" * 300}.get(case, net)
    if case == "arch_unknown":
        a = "DPUCZDX8G/ZCU999"
    elif case == "arch_malformed":
        a = tmp_path / "arch.json"
        a.write_text('{"target": ')
    elif case == "arch_fingerprint":
        a = tmp_path / "arch.json"
        a.write_text('{"fingerprint": "0x7ff000000000001"}')
    elif case == "not_xmodel":
        x = tmp_path / "x.xmodel"
        x.write_bytes(b"\x89PNG\r\n\x1a\nxxxxxxxx")
    elif case == "float_model":
        x = _float_model(tmp_path / "f.xmodel")
    elif case == "output_ops":
        opts = '{"output_ops": "nope"}'
    elif case == "bad_options":
        opts = "{input_shape"
    elif case == "unknown_option":
        opts = '{"speed": 3}'
    elif case == "input_shape":
        opts = '{"input_shape": "1,64,64,3"}'
    elif case == "ipu":
        a = "IPU_PHX/AMD_AIE2_Nx4_Overlay_cfg0"
    elif case == "missing":
        x = tmp_path / "missing.xmodel"
    elif case == "compiled":
        assert run("-x", qmodel, "-a", a, "-o", tmp_path / "c", "-n", "c")[0] == 0
        x = tmp_path / "c" / "c.xmodel"
    args = ["-x", x, "-a", a, "-o", out, "-n", net] + (["--options", opts] if opts else [])
    code, log = run(*args)
    assert code == 2, log
    assert message in log and "Traceback" not in log
    assert len(log.strip().splitlines()) == 1
    assert not out.exists()
    if case == "net_up":                     # -n ../x would have written beside the output directory
        assert not (tmp_path / "x.xmodel").exists()


def test_inspect_and_disasm(qmodel, tmp_path):
    out = tmp_path / "o"
    assert run("-x", qmodel, "-a", "DPUCZDX8G/KV260", "-o", out, "-n", "m")[0] == 0
    code, text = run("inspect", out / "m.xmodel", "--json", tmp_path / "r.json")
    assert code == 0, text
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["target"] == "DPUCZDX8G_ISA1_B4096"
    assert [s["device"] for s in rep["subgraphs"]][0] == "USER"
    code, text = run("disasm", out / "m.xmodel")
    assert code == 0
    code, text = run("disasm", out / "m.xmodel", "--subgraph", "nope")
    assert code == 2 and "no DPU subgraph named 'nope'" in text
    code, text = run("inspect", qmodel)
    assert code == 2 and "not a compiled model" in text


def test_torch_free_compile_in_a_fresh_interpreter(qmodel, tmp_path):
    import subprocess
    code = ("import sys; from vaic.cli import main; sys.argv=['vaic','-x',%r,'-a','DPUCZDX8G/KV260','-o',%r,'-q'];"
            "\ntry:\n  main()\nexcept SystemExit as e:\n  assert e.code in (0, None), e.code\n"
            "assert 'torch' not in sys.modules, 'vaic imported torch'") % (str(qmodel), str(tmp_path / "o"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_inspect_reports_per_layer_workloads(tmp_path):
    from vaiq.zoo import MODELS, get_model
    q = quantize_roundtrip(get_model("tiny_resnet"), MODELS["tiny_resnet"].input_shape, tmp_path / "q", batches=1)
    out = tmp_path / "o"
    assert run("-x", q.export_xmodel(), "-a", "DPUCZDX8G/KV260", "-o", out, "-n", "m")[0] == 0
    code, text = run("inspect", out / "m.xmodel", "--json", tmp_path / "r.json")
    assert code == 0, text
    rep = json.loads((tmp_path / "r.json").read_text())
    dpu = next(s for s in rep["subgraphs"] if s["device"] == "DPU")
    convs = [o for o in dpu["ops"] if o["type"] == "conv2d-fix"]
    assert convs and all(o["workload"] > 0 and o["workload_on_arch"] >= o["workload"] for o in convs)
    assert sum(o.get("workload", 0) for o in dpu["ops"]) == dpu["workload"]
