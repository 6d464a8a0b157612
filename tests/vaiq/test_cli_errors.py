"""Bad input to `vaiq`: one line on stderr, exit code 2, no traceback, nothing written to --output;
internal failures: exit code 1 (traceback only with --debug)."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import vaiq.api
from vaiq.cli import cli

NET_SRC = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def make():
    return 7


class Branchy(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x


WIDTH = 4
'''


@pytest.fixture
def files(tmp_path):
    (tmp_path / "net.py").write_text(NET_SRC)
    rng = np.random.default_rng(0)
    good = rng.random((6, 3, 8, 8), dtype=np.float32)
    np.save(tmp_path / "good.npy", good)
    nan = good.copy()
    nan[2, 0, 1, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "empty.npy", good[:0])
    np.save(tmp_path / "small.npy", good[:, :, :4, :4])
    (tmp_path / "noimages").mkdir()
    (tmp_path / "badimages").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "badimages" / "a.png")
    (tmp_path / "badimages" / "b.png").write_bytes(b"no png here")
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "other.pth")
    return tmp_path


def invoke(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_user_error(result, *fragments, code=2):
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def quantize(d, model="net.py:Net", data="good.npy", shape="1,3,8,8", extra=()):
    args = ["quantize", "--model", d / model if model.startswith("net") else model, "--calib-data", d / data,
            "--output", d / "out", "--no-onnx", "--no-torchscript"]
    if shape:
        args += ["--input-shape", shape]
    return invoke([*args, *extra])


CASES = {
    "missing model file": (dict(model="nonet.py:Net"), ["no such model file"]),
    "no :Name": (dict(model="net.py"), ["FILE.py:Name"]),
    "name not found": (dict(model="net.py:Nett"), ["no 'Nett'", "Net, make, Branchy"]),
    "factory returns no module": (dict(model="net.py:make"), ["not a torch.nn.Module"]),
    "not a module": (dict(model="net.py:WIDTH"), ["not an nn.Module"]),
    "model does not export": (dict(model="net.py:Branchy"), ["torch.export could not capture Branchy"]),
    "unknown zoo model": (dict(model="zoo:resnet1"), ["unknown zoo model"]),
    "no input shape": (dict(shape=None), ["needs --input-shape"]),
    "bad input shape text": (dict(shape="1,3,x"), ["--input-shape '1,3,x'"]),
    "wrong input shape": (dict(shape="1,3,8"), ["fails on an input of shape 1x3x8"]),
    "missing data": (dict(data="nothere.npz"), ["no such data file"]),
    "nan in data": (dict(data="nan.npy"), ["sample 2 contains NaN or Inf"]),
    "empty npy": (dict(data="empty.npy"), ["empty"]),
    "empty folder": (dict(data="noimages"), ["no image files"]),
    "unreadable image": (dict(data="badimages"), ["b.png", "cannot read the image"]),
    "data shape mismatch": (dict(data="small.npy"), ["3x4x4", "3x8x8"]),
    "weights mismatch": (dict(extra=["--weights", "{d}/other.pth"]), ["does not match Net"]),
    "missing weights": (dict(extra=["--weights", "{d}/none.pth"]), ["no such weights file"]),
    "bad target": (dict(extra=["--target", "NOPE/BOARD"]), ["unknown target"]),
    "output is a file": (dict(extra=["--output", "{d}/good.npy"]), ["exists and is not a directory"]),
    "bad config": (dict(extra=["--config", "{d}/net.py"]), ["not valid JSON"]),
    "bad method with config": (dict(extra=["--method", "maxmin", "--config", "{d}/none.json"]),
                               ["no such quant config file"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2(files, case):
    kw, fragments = CASES[case]
    kw = dict(kw)
    if "extra" in kw:
        kw["extra"] = [e.format(d=files) for e in kw["extra"]]
    line = assert_user_error(quantize(files, **kw), *fragments)
    assert line.startswith("vaiq quantize: error: ")
    assert not (files / "out").exists()
    assert not [p for p in files.iterdir() if ".vaiq-" in p.name]


def test_usage_errors_are_one_line(files):
    line = assert_user_error(invoke(["quantize", "--model", "zoo:ffn"]), "--calib-data")
    assert line.startswith("Error: ")
    assert_user_error(invoke(["quantize", "--model", "zoo:ffn", "--calib-data", "x.npy", "--bitwidth", "3"]),
                      "--bitwidth")
    assert_user_error(invoke(["quantise"]), "quantise")


def test_help_and_version():
    r = invoke([])
    assert r.exit_code == 0 and "quantize" in r.stdout and "inspect" in r.stdout
    r = invoke(["--version"])
    assert r.exit_code == 0 and r.stdout.startswith("vaiq ")
    r = invoke(["test", "--help"])
    assert r.exit_code == 0 and "--deploy-check" in r.stdout


def test_test_and_inspect_errors(files):
    r = invoke(["test", "--model", "zoo:ffn", "--output", files / "nothing"])
    assert_user_error(r, "quant_info.json", "run 'vaiq quantize'")
    assert not (files / "nothing").exists()
    np.savez(files / "ffn.npz", x=np.zeros((4, 2), np.float32), y=np.zeros((4, 3), np.float32))
    invoke(["quantize", "--model", "zoo:ffn", "--calib-data", files / "ffn.npz", "--output", files / "o",
            "--no-onnx", "--no-torchscript"])
    before = sorted(p.name for p in (files / "o").iterdir())
    r = invoke(["test", "--model", "zoo:ffn", "--output", files / "o", "--data", files / "ffn.npz"])
    assert_user_error(r, "labels 'y' of shape 4x3")
    assert sorted(p.name for p in (files / "o").iterdir()) == before
    np.savez(files / "ffn2.npz", x=np.zeros((4, 3, 8, 8), np.float32), y=np.arange(4))
    invoke(["quantize", "--model", f"{files}/net.py:Net", "--input-shape", "1,3,8,8", "--calib-data",
            files / "good.npy", "--output", files / "n", "--no-onnx", "--no-torchscript"])
    r = invoke(["test", "--model", f"{files}/net.py:Net", "--input-shape", "1,3,8,8", "--output", files / "n",
                "--data", files / "ffn2.npz"])
    assert_user_error(r, "labels 'y' range over 0..3", "2 outputs")
    r = invoke(["test", "--model", "zoo:digits_cnn", "--output", files / "o", "--no-onnx", "--no-torchscript"])
    assert_user_error(r, "quant_info.json", "no entry")
    assert_user_error(invoke(["inspect", "--model", f"{files}/net.py:Net", "--input-shape", "1,3,8,8",
                              "--target", "DPUCZDX8G/NOBOARD"]), "unknown target")


def test_failure_after_calibration_leaves_output_untouched(files, monkeypatch):
    (files / "out").mkdir()
    (files / "out" / "keep.txt").write_text("old")

    def boom(self, *a, **k):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(vaiq.api.torch_quantizer, "export_xmodel", boom)
    r = quantize(files)
    line = assert_user_error(r, "internal error: RuntimeError: disk on fire", "--debug", code=1)
    assert line.startswith("vaiq quantize: error: ")
    assert [p.name for p in (files / "out").iterdir()] == ["keep.txt"]
    assert not [p for p in files.iterdir() if ".vaiq-" in p.name]
    r = quantize(files, extra=["--debug"])
    assert r.exit_code == 1 and "Traceback" in r.stderr and "disk on fire" in r.stderr.splitlines()[-1]


def test_debug_shows_traceback_for_user_errors(files):
    r = quantize(files, data="nan.npy", extra=["--debug"])
    assert r.exit_code == 2 and "Traceback" in r.stderr and "NaN" in r.stderr.splitlines()[-1]


def test_subprocess_exit_code_and_stderr(files):
    cmd = [sys.executable, "-m", "vaiq.cli", "quantize", "--model", f"{files}/net.py:Nope", "--input-shape",
           "1,3,8,8", "--calib-data", f"{files}/good.npy", "--output", f"{files}/out"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().splitlines() == [f"vaiq quantize: error: {files}/net.py: no 'Nope' in the file; "
                                             "it defines: Net, make, Branchy"]
