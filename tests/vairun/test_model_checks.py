"""Compiled models are checked structurally before anything runs or is printed (xir.compiled): a
subgraph attribute that disagrees with the stream or the target is one line, exit 2, naming the
subgraph and the field, even when md5sum.txt was re-made to match."""
from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner

import xir
from vaic.cli import main as vaic_main
from vairun.cli import main as vairun_main

from flow import compile_zoo


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return compile_zoo("tiny_resnet", tmp_path_factory.mktemp("m"))


def _dpu(g):
    return [s for s in g.get_root_subgraph().toposort_child_subgraph() if s.get_attr("device") == "DPU"][0]


def _edit_ddr(key, delta_addr=0, reg=None):
    def f(sg):
        m = {k: list(v) for k, v in sg.get_attr(key).items()}
        name = next(iter(m))
        m[name][1] += delta_addr
        if reg is not None:
            m[name][0] = reg
        sg.set_attr(key, m, "map<string,int32[]>")
    return f


def _move_output(delta, reg=None):
    """Move the first output and its tensor's placement attributes together (a consistent edit)."""
    def f(sg):
        m = {k: list(v) for k, v in sg.get_attr("output_ddr").items()}
        name = next(iter(m))
        if reg is not None:
            m[name][0], m[name][1] = reg, 0
        else:
            m[name][1] += delta
        sg.set_attr("output_ddr", m, "map<string,int32[]>")
        t = sg.get_graph().get_tensor(name)
        t.set_attr("reg_id", m[name][0], "int32")
        t.set_attr("ddr_addr", m[name][1], "int32")
    return f


def _set(key, fn, atype):
    return lambda sg: sg.set_attr(key, fn(sg.get_attr(key)), atype)


MUTATIONS = {
    "layer index past the layers": (_set("mc_code_layer_index", lambda v: [999] + list(v[1:]), "int32[]"),
                                    "mc_code_layer_index[0] = 999"),
    "layer index too short": (_set("mc_code_layer_index", lambda v: list(v[:-1]), "int32[]"),
                              "mc_code_layer_index has"),
    "output moved inside its register": (_edit_ddr("output_ddr", -64), "the tensor says"),
    "output and its tensor moved inside the register": (_move_output(-64), "never written by a SAVE"),
    "output and its tensor moved onto the workspace": (_move_output(0, reg=1), "saved last"),
    "output moved past its register": (_edit_ddr("output_ddr", 1 << 20), "output_ddr"),
    "input in the parameter register": (_edit_ddr("input_ddr", reg=0), "input_ddr"),
    "data register too small": (_set("reg_id_to_size", lambda v: {k: (16 if k != "REG_0" else n)
                                                                  for k, n in v.items()}, "map<string,int32>"),
                                "16 bytes"),
    "parameters cut short": (_set("reg_id_to_parameter_value", lambda v: {"REG_0": v["REG_0"][:-8]},
                                  "map<string,bytes>"), "REG_0 is"),
    "foreign fingerprint": (_set("dpu_fingerprint", lambda v: v ^ 1, "uint64"), "dpu_fingerprint"),
    "other isa": (_set("isa", lambda v: "ISA1X" if v != "ISA1X" else "ISA1", "string"), "isa"),
    "missing output map": (lambda sg: sg.del_attr("output_ddr"), "lacks ['output_ddr']"),
    "corrupt stream": (_set("mc_code", lambda v: v[:-3], "bytes"), "mc_code"),
}


@pytest.mark.parametrize("case", list(MUTATIONS))
def test_inconsistent_subgraph_is_refused_everywhere(compiled, tmp_path, case):
    mutate, fragment = MUTATIONS[case]
    g = xir.Graph.deserialize(compiled)
    sg = _dpu(g)
    mutate(sg)
    path = tmp_path / "m.xmodel"
    g.serialize(path)
    (tmp_path / "md5sum.txt").write_text(hashlib.md5(path.read_bytes()).hexdigest() + "\n")
    for main, args in ((vairun_main, ["info", str(path)]), (vaic_main, ["disasm", str(path)]),
                       (vaic_main, ["inspect", str(path)])):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2, (case, args, r.output)
        line = r.output.strip().splitlines()[-1]
        assert "Traceback" not in r.output and fragment in line and sg.get_name() in line, (case, line)


def test_the_untouched_model_passes(compiled):
    r = CliRunner().invoke(vairun_main, ["info", str(compiled)])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("side, fragment", [
    (b"\xff\xfe\x00garbage", "not UTF-8 text"),
    (None, "is a directory, not a checksum file"),
    (b"0123456789abcdef0123456789abcdef\n", "checksum mismatch"),
])
def test_checksum_file_problems(compiled, tmp_path, side, fragment):
    import shutil
    d = tmp_path / "c"
    d.mkdir()
    shutil.copy(compiled, d / "m.xmodel")
    if side is None:
        (d / "md5sum.txt").mkdir()
    else:
        (d / "md5sum.txt").write_bytes(side)
    r = CliRunner().invoke(vairun_main, ["info", str(d / "m.xmodel")])
    assert r.exit_code == 2 and fragment in r.output and "Traceback" not in r.output, r.output


def test_empty_batch_and_absurd_header(compiled, tmp_path):
    import numpy as np
    np.save(tmp_path / "zero.npy", np.zeros((0, 32, 32, 3), np.float32))
    good = tmp_path / "good.npy"
    np.save(good, np.zeros((1, 32, 32, 3), np.float32))
    (tmp_path / "huge.npy").write_bytes(good.read_bytes().replace(b"(1, 32, 32, 3)", b"(9999999999999, 32, 32, 3)"))
    for f, fragment in (("zero.npy", "holds no samples"), ("huge.npy", "truncated or corrupt")):
        r = CliRunner().invoke(vairun_main, ["run", str(compiled), "-i", str(tmp_path / f), "-o",
                                             str(tmp_path / "o.npz")])
        assert r.exit_code == 2 and fragment in r.output, r.output
        assert not (tmp_path / "o.npz").exists()
