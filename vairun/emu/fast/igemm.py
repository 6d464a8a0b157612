"""Exact int8 x int8 -> int32 matrix products for the fast CONV path (no contract rule: a speed
device; the products are exact, so results do not depend on it).

Rule: numpy has no integer BLAS, so the fast executor multiplies int8 values as float32 (exact in
chunks of 1024 terms, finish.py). CPUs with 8-bit dot-product instructions (AVX512-VNNI, AVX-VNNI,
ARM dot product) multiply int8 about four times faster than float32, and torch exposes that as
``torch._int_mm`` (int8 ``[M, K]`` x int8 ``[K, N]`` -> int32 ``[M, N]``). torch is a dependency of
the package (vaiq), but vairun must start without it (docs/architecture.md), so it is imported only
when a fused program is first built, and only when ``VAIRUN_EMU_GEMM`` allows it:

* ``auto`` (default): the integer GEMM when torch imports and passes the self-test, else float32;
* ``int8``: the integer GEMM, and an error when it is unavailable or fails the self-test;
* ``float``: float32 BLAS products only (torch is never imported).

Self-test: some integer kernels sum pairs of u8 x s8 products in int16 with saturation (x86 without
VNNI, the reason quantization libraries offer a "reduce range" mode), which is not exact for the
DPU's full int8 range. Before the first use, products whose pairwise sums saturate int16 (127 x 127
and -128 x -128 pairs, mixed signs, K not a multiple of 4, one row and odd shapes) are compared with
numpy's int64 product; any difference and the float32 path is used (``auto``) or an error raised.

The sums are exact while ``K * 2**14 < 2**31`` (:data:`MAX_TERMS`); callers keep longer reductions on
the float path. :func:`limited` caps torch's (process-wide) intra-op threads like blas.py caps the
BLAS's, for the runs that split a batch over threads of their own.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import numpy as np

from ..numerics import MAX_PRODUCT

ENV = "VAIRUN_EMU_GEMM"
CHOICES = ("auto", "int8", "float")
#: Longest reduction an int32 accumulator holds exactly (2**14 * MAX_TERMS < 2**31).
MAX_TERMS = ((1 << 31) - 1) // MAX_PRODUCT

_lock = threading.Lock()
_state: dict = {}          # mode -> the product function, or None (float path)


class IntGemmUnavailable(RuntimeError):
    """VAIRUN_EMU_GEMM=int8 but torch's integer GEMM is missing or not exact on this machine."""


def mode() -> str:
    """The VAIRUN_EMU_GEMM setting (checked)."""
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in CHOICES:
        raise IntGemmUnavailable(f"{ENV}={value!r} is not one of {', '.join(CHOICES)}")
    return value


def product():
    """The exact int8 GEMM ``f(a, b, out)`` (numpy int8 ``[M, K]``, ``[K, N]`` C-contiguous, int32
    ``[M, N]`` out) for the current setting, or None for the float32 path."""
    which = mode()
    if which == "float":
        return None
    with _lock:
        if which not in _state:
            _state[which] = _load(which)
        return _state[which]


def _load(which: str):
    try:
        import torch
        int_mm = torch._int_mm
    except (ImportError, AttributeError) as exc:
        if which == "int8":
            raise IntGemmUnavailable(f"{ENV}=int8 needs torch with torch._int_mm ({exc})") from None
        return None

    def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
        int_mm(torch.from_numpy(a), torch.from_numpy(b), out=torch.from_numpy(out))
        return out

    bad = _self_test(gemm)
    if bad:
        if which == "int8":
            raise IntGemmUnavailable(f"{ENV}=int8 but torch._int_mm is not exact on this CPU ({bad})")
        return None
    gemm.torch = torch
    return gemm


def _self_test(gemm) -> str | None:
    """A description of the first inexact product, or None when every test product is exact."""
    rng = np.random.default_rng(0)
    cases = []
    for m, k, n in ((1, 1, 1), (1, 577, 33), (5, 67, 3), (17, 1024, 48), (64, 4608, 16)):
        cases.append((np.full((m, k), 127, np.int8), np.full((k, n), 127, np.int8)))
        cases.append((np.full((m, k), -128, np.int8), np.full((k, n), -128, np.int8)))
        cases.append((np.full((m, k), -128, np.int8), np.full((k, n), 127, np.int8)))
        cases.append((rng.integers(-128, 128, (m, k), dtype=np.int8),
                      rng.integers(-128, 128, (k, n), dtype=np.int8)))
    for a, b in cases:
        try:
            got = gemm(a, b, np.empty((a.shape[0], b.shape[1]), np.int32))
        except Exception as exc:  # noqa: BLE001 - any failure of the library means: do not use it
            return f"{type(exc).__name__}: {exc}"
        want = a.astype(np.int64) @ b.astype(np.int64)
        if not np.array_equal(got, want):
            return f"a {a.shape[0]}x{a.shape[1]} x {b.shape[1]} product differs"
    return None


@contextmanager
def limited(n: int):
    """Cap torch's intra-op threads at ``n`` inside the block when the integer GEMM is loaded
    (process-wide, like blas.limited; nested uses keep the outermost count to restore)."""
    torch = _loaded_torch()
    if torch is None:
        yield
        return
    with _lock:
        global _depth, _saved
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


_depth = 0
_saved = 1


def _loaded_torch():
    for fn in _state.values():
        if fn is not None:
            return fn.torch
    return None
