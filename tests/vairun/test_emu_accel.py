"""The fast executor's kernel sets (vairun/emu/fast/accel.py): selected by VAIRUN_EMU_KERNELS; torch's
int8 GEMM used only after a self-test shows it exact (a GEMM that saturates int16 pair sums is
refused), never imported with ``numpy``; results equal on every setting; torch's thread cap restored;
a bad setting is one error line from the command line. The compiled kernels' own tests are in
test_emu_native.py."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vairun.emu.fast import accel

ROOT = Path(__file__).resolve().parents[2]


def _saturating_gemm(a, b, out):
    """An int8 GEMM as x86 kernels without VNNI compute it: u8 (a + 128) x s8 products summed in
    pairs into int16 with saturation, then the 128 * column sums taken off."""
    au = a.astype(np.int64) + 128
    bb = b.astype(np.int64)
    k = a.shape[1]
    if k % 2:
        au = np.pad(au, ((0, 0), (0, 1)))
        bb = np.pad(bb, ((0, 1), (0, 0)))
    pairs = au[:, 0::2, None] * bb[None, 0::2, :] + au[:, 1::2, None] * bb[None, 1::2, :]
    acc = np.clip(pairs, -32768, 32767).sum(axis=1) - 128 * b.astype(np.int64).sum(axis=0)
    out[...] = acc
    return out


def _exact_gemm(a, b, out):
    out[...] = a.astype(np.int64) @ b.astype(np.int64)
    return out


def test_self_test_refuses_a_gemm_that_saturates_int16_pair_sums():
    assert accel._test_gemm(_exact_gemm) is None
    assert "differs from the exact product" in accel._test_gemm(_saturating_gemm)

    def broken(a, b, out):
        raise RuntimeError("no kernel for this CPU")
    assert "RuntimeError: no kernel for this CPU" in accel._test_gemm(broken)


def test_an_inexact_torch_is_not_used_in_auto_and_is_an_error_when_required(monkeypatch):
    monkeypatch.setattr(accel, "_test_gemm", lambda gemm: "int8 GEMM 1x1 x 1x1 differs from the exact product")
    assert accel._load(True, frozenset()).gemm is None
    with pytest.raises(accel.KernelsUnavailable, match="not exact on this CPU"):
        accel._load(False, frozenset({"torch"}))


def test_settings(monkeypatch):
    monkeypatch.setenv(accel.ENV, "numpy")
    assert accel.kernels() == accel.NONE
    assert accel.describe() == "CONV products: numpy float32 BLAS; native kernels: not in use"
    monkeypatch.setenv(accel.ENV, " Native, torch ")
    assert accel.mode() == (False, frozenset({"torch", "native"}))
    monkeypatch.setenv(accel.ENV, "torch")
    k = accel.kernels()
    assert k.gemm is not None and k.native is None
    assert accel.describe().startswith("CONV products: torch ") and accel.describe().endswith("; native kernels: not in use")
    for bad in ("Bogus", "torch,numpy", "native,", "auto,torch"):
        monkeypatch.setenv(accel.ENV, bad)
        with pytest.raises(accel.KernelsUnavailable,
                           match="is not auto, numpy, or a comma-separated list of torch, native"):
            accel.kernels()
    monkeypatch.delenv(accel.ENV)
    assert accel.mode() == (True, frozenset())


def test_torch_gemm_is_exact_on_this_machine():
    """The CI machine's torch passes the self-test (else the fast path silently runs on numpy's
    float32 products: this test says so instead)."""
    k = accel._load(True, frozenset())
    assert k.gemm is not None, "torch._int_mm failed the self-test here: the fast executor uses float32 products"
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, (37, 4609), dtype=np.int8)
    b = rng.integers(-128, 128, (4609, 19), dtype=np.int8)
    np.testing.assert_array_equal(k.gemm(a, b, np.empty((37, 19), np.int32)), a.astype(np.int64) @ b.astype(np.int64))


def test_thread_cap_is_restored(monkeypatch):
    import torch
    # torch's GEMM counts as in use whatever this machine's self-test says (the cap is what is tested)
    monkeypatch.setattr(accel, "_loaded", {"test": accel.Kernels(_exact_gemm, torch)})
    before = torch.get_num_threads()
    with accel.limited(1):
        assert torch.get_num_threads() == 1
        with accel.limited(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


_RUN = """
import sys, numpy as np
from vairun import GraphRunner
r = GraphRunner(sys.argv[1])
rng = np.random.default_rng(0)
x = [rng.standard_normal((2,) + tuple(t.dims[1:])).astype(np.float32) for t in r.get_input_tensors()]
outs = [r.run(x) for _ in range(3)]   # the second run builds the fused program
np.save(sys.argv[2], np.concatenate([np.asarray(v).ravel() for v in outs[-1].values()]))
from vairun.emu.machine import describe_executor
print(describe_executor(), "| torch imported:", "torch" in sys.modules)
"""


@pytest.fixture(scope="module")
def compiled_model(tmp_path_factory):
    from flow import compile_zoo
    return compile_zoo("tiny_resnet", tmp_path_factory.mktemp("accel"))


def _run(path, setting, out):
    env = {**os.environ, accel.ENV: setting, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", _RUN, str(path), str(out)], env=env, capture_output=True,
                         text=True, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout.strip()


def test_numpy_setting_never_imports_torch_and_every_setting_agrees(compiled_model, tmp_path):
    said = _run(compiled_model, "numpy", tmp_path / "numpy.npy")
    assert said == "fast executor, CONV products: numpy float32 BLAS; native kernels: not in use | torch imported: False"
    said = _run(compiled_model, "native", tmp_path / "native.npy")
    assert said.startswith("fast executor, CONV products: numpy float32 BLAS; native kernels: ")
    assert "(DPTWISE, int32 finishing)" in said
    assert said.endswith("torch imported: False")
    said = _run(compiled_model, "auto", tmp_path / "auto.npy")
    assert said.startswith("fast executor, CONV products: torch ") and "(DPTWISE, int32 finishing)" in said
    assert said.endswith("torch imported: True")
    for setting in ("native", "auto"):
        np.testing.assert_array_equal(np.load(tmp_path / "numpy.npy"), np.load(tmp_path / f"{setting}.npy"))


def test_a_bad_setting_is_one_line_and_exit_2(compiled_model):
    env = {**os.environ, accel.ENV: "fast", "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "vairun.cli", "bench", str(compiled_model), "--repeat", "1"],
                         env=env, capture_output=True, text=True, check=False)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "vairun: error: VAIRUN_EMU_KERNELS='fast' is not auto, numpy, or a comma-separated list of torch, "
        "native; unset it or use VAIRUN_EMU_KERNELS=numpy"]
