"""Exact integer kernels from torch for the fast executor (no contract rule: a speed device; the
kernels are exact, so results do not depend on it).

Rule: numpy has no integer BLAS and no convolution, so the fast executor's own kernels multiply
int8 values as float32 (exact, finish.py). torch's CPU kernels are faster for two of them:

* ``gemm(a, b, out)``: int8 ``[M, K]`` x int8 ``[K, N]`` -> int32 ``[M, N]`` (``torch._int_mm``;
  CPUs with 8-bit dot-product instructions, AVX512-VNNI, AVX-VNNI or ARM dot product, multiply int8
  about four times faster than float32). Exact while ``K * 2**14 < 2**31`` (:data:`MAX_TERMS`).
* ``depthwise(x, w, stride)``: a depthwise convolution of float32 values holding integers (the
  weights times a power of two), NHWC ``[B, H, W, C]`` x ``[kh, kw, C]`` -> ``[B, R, L, C]`` (the
  weights as an array or as prepared once by ``depthwise_weights(w)``)
  (``torch.nn.functional.conv2d`` with ``groups=C`` on a channels-last view). A direct algorithm
  sums integer multiples of one power of two; every partial sum of at most 1024 int8 products
  stays below 2**24 times that power, so float32 holds it exactly in any order. Callers keep the
  bound (:data:`MAX_TAPS`).

torch is a dependency of the package (vaiq), but vairun must start without it (docs/vairun.md), so it
is imported only when a fused program is first built, and only as ``VAIRUN_EMU_KERNELS`` allows:

* ``auto`` (default): torch's kernels when torch imports and they pass the self-test, else numpy's;
* ``torch``: torch's kernels, and an error when torch is missing or a self-test fails;
* ``numpy``: numpy's kernels only (torch is never imported).

Self-test, before the first use: some integer GEMMs sum pairs of u8 x s8 products in int16 with
saturation (x86 without VNNI: the reason quantization libraries offer a "reduce range" mode), which
is not exact over the DPU's full int8 range; a convolution may pick an inexact algorithm
(Winograd). So products and convolutions whose partial sums reach those limits (all 127 x 127,
all -128 x -128, mixed signs, random; K not a multiple of 4, one row, odd shapes, strides 1 and 2)
are compared with numpy's int64 results; any difference and the numpy kernels are used (``auto``)
or an error is raised (``torch``).

:func:`limited` caps torch's process-wide intra-op threads as blas.py caps the BLAS's, for runs
that split a batch over threads of their own.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..numerics import MAX_PRODUCT

ENV = "VAIRUN_EMU_KERNELS"
CHOICES = ("auto", "torch", "numpy")
#: Longest reduction an int32 accumulator holds exactly (2**14 * MAX_TERMS < 2**31).
MAX_TERMS = ((1 << 31) - 1) // MAX_PRODUCT
#: Most taps a float32 depthwise sum holds exactly (2**14 * 1024 = 2**24).
MAX_TAPS = (1 << 24) // MAX_PRODUCT


class KernelsUnavailable(RuntimeError):
    """VAIRUN_EMU_KERNELS=torch (or an invalid value) and torch's kernels cannot be used."""


@dataclass(frozen=True)
class Kernels:
    """torch's exact kernels (see the module docstring)."""

    gemm: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    depthwise: Callable[[np.ndarray, object, tuple[int, int]], np.ndarray]
    depthwise_weights: Callable[[np.ndarray], object]
    torch: object


_lock = threading.Lock()
_loaded: dict[str, Kernels | None] = {}


def mode() -> str:
    """The VAIRUN_EMU_KERNELS setting (checked)."""
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in CHOICES:
        raise KernelsUnavailable(f"{ENV}={value!r} is not one of {', '.join(CHOICES)}")
    return value


def kernels() -> Kernels | None:
    """torch's kernels under the current setting, or None (use numpy's)."""
    which = mode()
    if which == "numpy":
        return None
    with _lock:
        if which not in _loaded:
            _loaded[which] = _load(which)
        return _loaded[which]


def describe() -> str:
    """What the fast executor multiplies with under the current setting (for benchmarks and logs)."""
    try:
        k = kernels()
    except KernelsUnavailable as exc:
        return f"unavailable ({exc})"
    if k is None:
        return "numpy float32 BLAS"
    return f"torch {k.torch.__version__} int8 GEMM + depthwise conv"


def _load(which: str) -> Kernels | None:
    try:
        import torch
        import torch.nn.functional as F
        int_mm = torch._int_mm
    except (ImportError, AttributeError) as exc:
        if which == "torch":
            raise KernelsUnavailable(f"{ENV}=torch needs torch with torch._int_mm ({exc})") from None
        return None

    def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
        int_mm(torch.from_numpy(a), torch.from_numpy(b), out=torch.from_numpy(out))
        return out

    def depthwise_weights(w: np.ndarray):
        kh, kw, c = w.shape
        tw = torch.from_numpy(np.ascontiguousarray(w.transpose(2, 0, 1))).reshape(c, 1, kh, kw)
        return tw.contiguous(memory_format=torch.channels_last)

    def depthwise(x: np.ndarray, w, stride: tuple[int, int]) -> np.ndarray:
        if isinstance(w, np.ndarray):
            w = depthwise_weights(w)
        tx = torch.from_numpy(x).permute(0, 3, 1, 2)
        y = F.conv2d(tx, w, stride=stride, groups=w.shape[0])
        return y.permute(0, 2, 3, 1).contiguous().numpy()

    bad = _test_gemm(gemm) or _test_depthwise(depthwise)
    if bad:
        if which == "torch":
            raise KernelsUnavailable(f"{ENV}=torch but torch's kernels are not exact on this CPU ({bad})")
        return None
    return Kernels(gemm, depthwise, depthwise_weights, torch)


def _extremes(rng, shape_a, shape_b):
    """Operand pairs whose partial sums reach the limits of int16 pair sums and of float32."""
    for va, vb in ((127, 127), (-128, -128), (-128, 127)):
        yield np.full(shape_a, va, np.int8), np.full(shape_b, vb, np.int8)
    yield rng.integers(-128, 128, shape_a, dtype=np.int8), rng.integers(-128, 128, shape_b, dtype=np.int8)


def _test_gemm(gemm) -> str | None:
    """A description of the first inexact product, or None when every test product is exact."""
    rng = np.random.default_rng(0)
    for m, k, n in ((1, 1, 1), (1, 577, 33), (5, 67, 3), (17, 1024, 48), (64, 4608, 16)):
        for a, b in _extremes(rng, (m, k), (k, n)):
            try:
                got = gemm(a, b, np.empty((m, n), np.int32))
            except Exception as exc:  # noqa: BLE001 - any failure of the library means: do not use it
                return f"int8 GEMM: {type(exc).__name__}: {exc}"
            if not np.array_equal(got, a.astype(np.int64) @ b.astype(np.int64)):
                return f"int8 GEMM {m}x{k} x {k}x{n} differs from the exact product"
    return None


def _test_depthwise(depthwise) -> str | None:
    """A description of the first inexact convolution, or None when every test is exact."""
    rng = np.random.default_rng(1)
    for h, w, c, k, s in ((7, 9, 3, 3, 1), (9, 11, 32, 3, 2), (12, 12, 16, 5, 1), (34, 34, 8, 32, 1)):
        for x, wt in _extremes(rng, (2, h, w, c), (k, k, c)):
            try:
                got = depthwise(x.astype(np.float32), wt.astype(np.float32), (s, s))
            except Exception as exc:  # noqa: BLE001
                return f"depthwise conv: {type(exc).__name__}: {exc}"
            rows, cols = (h - k) // s + 1, (w - k) // s + 1
            want = np.zeros((2, rows, cols, c), np.int64)
            for dy in range(k):
                for dx in range(k):
                    want += (x[:, dy:dy + (rows - 1) * s + 1:s, dx:dx + (cols - 1) * s + 1:s].astype(np.int64)
                             * wt[dy, dx].astype(np.int64))
            if got.shape != want.shape or not np.array_equal(got.astype(np.int64), want):
                return f"depthwise conv {k}x{k} stride {s} over {h}x{w}x{c} differs from the exact sum"
    return None


_depth = 0
_saved = 1


@contextmanager
def limited(n: int):
    """Cap torch's intra-op threads at ``n`` inside the block when its kernels are loaded
    (process-wide, like blas.limited; nested and concurrent uses share one cap)."""
    global _depth, _saved
    torch = next((k.torch for k in _loaded.values() if k is not None), None)
    if torch is None:
        yield
        return
    with _lock:
        if _depth == 0:
            _saved = torch.get_num_threads()
            torch.set_num_threads(int(n))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                torch.set_num_threads(_saved)
