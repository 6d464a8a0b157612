"""examples/inception_v3: the two scripts behind the original's command lines, on demo data.
The quick cases run the same scripts with a tiny config (tiny_inception, 3x32x32); the full demo
(Inception-v3, torchvision-named checkpoint) is slow."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples" / "inception_v3"
TINY = """model: tiny_inception
checkpoint_names: native
num_classes: 10
input_shape: [3, 32, 32]
resize: 36
crop: 32
mean: [0.485, 0.456, 0.406]
std: [0.229, 0.224, 0.225]
batch_size: 4
"""


def sh(*args, env_extra=None, cwd=None):
    env = {**os.environ, "PYTHON": sys.executable, **(env_extra or {})}
    return subprocess.run(["bash", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd)


def py(*args, cwd=None):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiny_example")
    cfg = work / "config.yaml"
    cfg.write_text(TINY)
    r = py(EX / "make_demo_data.py", work, "--config", cfg, "--classes", "2", "--per_class", "3")
    assert r.returncode == 0, r.stderr
    env = {"CONFIG": str(cfg), "WEGO_CACHE_DIR": str(work / "cache")}
    r = sh(EX / "dynamo_quantize.sh", work / "tiny_inception_demo.pth", work / "imagenet_val", work / "qr",
           env_extra=env)
    assert r.returncode == 0, r.stderr
    assert "calibrated on 6 image(s)" in r.stdout
    return work, env


def test_scripts_classify_the_demo_images(tiny):
    work, env = tiny
    r = sh(EX / "dynamo_compile_run.sh", work / "tiny_inception_demo.pth", work / "qr", work / "imagenet_val",
           env_extra=env)
    assert r.returncode == 0, r.stderr
    assert "DPU subgraphs" in r.stdout
    images = sorted((work / "imagenet_val").rglob("*.JPEG"))
    for img in images:
        assert str(img) in r.stdout
    tops = re.findall(r"top-(\d): class +(\d+) +probability ([0-9.]+)", r.stdout)
    assert len(tops) == 5 * len(images)
    probs = [float(p) for _, _, p in tops[:5]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001


def test_calib_set_len_and_one_image(tiny):
    work, env = tiny
    r = sh(EX / "dynamo_quantize.sh", work / "tiny_inception_demo.pth", work / "imagenet_val", work / "qr2",
           env_extra={**env, "CALIB_SET_LEN": "2"})
    assert r.returncode == 0 and "calibrated on 2 image(s)" in r.stdout, r.stderr
    one = next((work / "imagenet_val").rglob("*.JPEG"))
    r = sh(EX / "dynamo_compile_run.sh", work / "tiny_inception_demo.pth", work / "qr2", one, env_extra=env)
    assert r.returncode == 0, r.stderr
    assert len(re.findall(r"top-\d:", r.stdout)) == 5


def bad(r, pattern):
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and re.search(pattern, lines[0]), r.stderr


def run_py(*args):
    """run.py's command in this process (click's runner): exit code and stderr as a script sees them."""
    import importlib.util

    from click.testing import CliRunner
    path, modules = list(sys.path), set(sys.modules)
    try:
        spec = importlib.util.spec_from_file_location("inception_example_run", EX / "run.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        res = CliRunner().invoke(mod.main, [str(a) for a in args])
    finally:   # the example's own modules (config, data) leave no trace in this process
        sys.path[:] = path
        for name in ("config", "data"):
            if name not in modules:
                sys.modules.pop(name, None)
    return subprocess.CompletedProcess(args, res.exit_code, res.stdout, res.stderr)


def test_bad_input_is_one_line_exit_2(tiny, tmp_path):
    work, env = tiny
    ckpt = work / "tiny_inception_demo.pth"
    cfg = ["--config", env["CONFIG"]]
    (tmp_path / "empty").mkdir()
    bad(sh(EX / "dynamo_quantize.sh", ckpt, tmp_path / "empty", tmp_path / "q", env_extra=env), "holds no images")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.JPEG").write_bytes(b"not a jpeg")
    bad(run_py("--phase", "quantize", "--float_model_path", ckpt, "--calibration_images_folder",
               tmp_path / "broken", "--quant_result_path", tmp_path / "q", *cfg), r"x.JPEG: cannot read the image")
    bad(run_py("--phase", "compile", "--float_model_path", ckpt, "--quant_result_path", tmp_path / "none", *cfg),
        "does not exist")
    import torch
    sd = torch.load(ckpt, weights_only=True)
    first = next(iter(sd))
    sd[first] = torch.zeros(1)
    torch.save(sd, tmp_path / "bad.pth")
    bad(run_py("--phase", "compile", "--float_model_path", tmp_path / "bad.pth", "--quant_result_path", work / "qr",
               *cfg), f"checkpoint key '{re.escape(first)}' has shape")
    bad(run_py("--phase", "compile", "--float_model_path", ckpt, "--quant_result_path", work / "qr", *cfg,
               tmp_path / "missing.jpg"), "no such image or folder")
    r = sh(EX / "dynamo_compile_run.sh", ckpt)
    assert r.returncode == 2 and "usage" in r.stderr


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    """bash examples/inception_v3/demo.sh: Inception-v3 with a torchvision-named checkpoint."""
    r = sh(EX / "demo.sh", tmp_path / "demo", env_extra={"WEGO_CACHE_DIR": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr[-3000:]
    assert "calibrated on 9 image(s)" in r.stdout
    assert len(re.findall(r"top-1: class", r.stdout)) == 9
