"""Issue 16 on vaic's side: bad --options, non-finite constants and unusable output locations are one
line with exit code 2, and the output directory is left as it was."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import xir
from vaic.cli import main

from flow import quantize_roundtrip


@pytest.fixture(scope="module")
def deploy(tmp_path_factory):
    from vaiq.zoo import MODELS, get_model
    d = tmp_path_factory.mktemp("q")
    q = quantize_roundtrip(get_model("tiny_resnet"), MODELS["tiny_resnet"].input_shape, d, batches=2)
    return q.export_xmodel()


def _vaic(*args):
    return CliRunner().invoke(main, list(args))


def _one_line_2(r, fragment):
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in r.output, r.output


@pytest.mark.parametrize("options, fragment", [
    ('{"output_ops": ",,,"}', "names no op"),
    ('{"output_ops": 3}', "must be a string"),
    ('{"prefetch": "no"}', "true or false"),
    ('{"output_ops": "conv2d_weights"}', "a constant"),
])
def test_bad_options(deploy, tmp_path, options, fragment):
    g = xir.Graph.deserialize(deploy)
    if "conv2d_weights" in options:
        const = next(o.get_name() for o in g.get_ops() if o.get_type() == "const")
        options = options.replace("conv2d_weights", const)
    _one_line_2(_vaic("-x", str(deploy), "-a", "DPUCZDX8G/KV260", "-o", str(tmp_path / "o"), "--options", options),
                fragment)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("value, fragment", [(np.nan, "holds NaN"), (np.inf, "infinite value")])
def test_non_finite_constants(deploy, tmp_path, value, fragment):
    g = xir.Graph.deserialize(deploy)
    op = next(o for o in g.get_ops() if o.get_type() == "const" and o.get_const_data().dtype.kind == "f")
    d = np.array(op.get_const_data())
    d.flat[0] = value
    op.set_attr("data", d.astype(d.dtype.newbyteorder("<")).tobytes(), op.get_attr_type("data"))
    bad = tmp_path / "bad.xmodel"
    g.serialize(bad)
    _one_line_2(_vaic("-x", str(bad), "-a", "DPUCZDX8G/KV260", "-o", str(tmp_path / "o")), fragment)


def test_output_below_a_file_and_directory_clash(deploy, tmp_path):
    (tmp_path / "file").write_text("")
    _one_line_2(_vaic("-x", str(deploy), "-a", "DPUCZDX8G/KV260", "-o", str(tmp_path / "file" / "sub")), "is a file")
    out = tmp_path / "out"
    (out / "md5sum.txt").mkdir(parents=True)
    _one_line_2(_vaic("-x", str(deploy), "-a", "DPUCZDX8G/KV260", "-o", str(out), "-n", "m"),
                "is a directory where the output file md5sum.txt goes")
    assert sorted(p.name for p in out.iterdir()) == ["md5sum.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "out"]      # no staging folder left


def test_arch_file_not_text(deploy, tmp_path):
    arch = tmp_path / "arch.json"
    arch.write_bytes(b"\xff\xfe\x00\x01")
    _one_line_2(_vaic("-x", str(deploy), "-a", str(arch), "-o", str(tmp_path / "o")), "not UTF-8 text")
