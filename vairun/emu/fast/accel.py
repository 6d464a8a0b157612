"""An exact int8 GEMM from torch for the fast CONV path (no contract rule: a speed device; the
products are exact, so results do not depend on it).

Rule: numpy has no integer BLAS, so the fast executor's own CONV multiplies int8 values as float32
(exact in chunks of 1024 terms, finish.py). ``torch._int_mm`` multiplies int8 ``[M, K]`` by int8
``[K, N]`` into int32 ``[M, N]``; on CPUs with 8-bit dot-product instructions (AVX512-VNNI,
AVX-VNNI, ARM dot product) it is about four times faster than a float32 product (measured:
scripts/bench_emulator.py, docs/vairun.md). The sums are exact while ``K * 2**14 < 2**31``
(:data:`MAX_TERMS`); longer reductions stay on the float path.

torch is a dependency of the package (vaiq), but vairun must start without it (docs/vairun.md), so it
is imported only when a fused program is first built, and only as ``VAIRUN_EMU_KERNELS`` allows:

* ``auto`` (default): torch's GEMM when torch imports and passes the self-test, else numpy's float32;
* ``torch``: torch's GEMM, and an error when torch is missing or the self-test fails;
* ``numpy``: numpy's float32 products only (torch is never imported).

Self-test, before the first use: some integer GEMMs sum pairs of u8 x s8 products in int16 with
saturation (x86 without VNNI: the reason quantization libraries offer a "reduce range" mode), which
is not exact over the DPU's full int8 range. So products whose partial sums reach that limit (all
127 x 127, all -128 x -128, mixed signs, random; K not a multiple of 4, one row, odd shapes) are
compared with numpy's int64 product; any difference and numpy's products are used (``auto``) or an
error is raised (``torch``).

:func:`limited` caps torch's process-wide intra-op threads as blas.py caps the BLAS's, for runs
that split a batch over threads of their own.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..numerics import MAX_PRODUCT
from .threadcap import SharedCap

ENV = "VAIRUN_EMU_KERNELS"
CHOICES = ("auto", "torch", "numpy")
#: Longest reduction an int32 accumulator holds exactly (2**14 * MAX_TERMS < 2**31).
MAX_TERMS = ((1 << 31) - 1) // MAX_PRODUCT


class KernelsUnavailable(RuntimeError):
    """VAIRUN_EMU_KERNELS=torch (or an invalid value) and torch's GEMM cannot be used."""


@dataclass(frozen=True)
class Kernels:
    """torch's exact GEMM (see the module docstring)."""

    gemm: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
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
    return f"torch {k.torch.__version__} int8 GEMM"


def _load(which: str) -> Kernels | None:
    try:
        import torch
        int_mm = torch._int_mm
    except (ImportError, AttributeError) as exc:
        if which == "torch":
            raise KernelsUnavailable(f"{ENV}=torch needs torch with torch._int_mm ({exc})") from None
        return None

    def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
        int_mm(torch.from_numpy(a), torch.from_numpy(b), out=torch.from_numpy(out))
        return out

    bad = _test_gemm(gemm)
    if bad:
        if which == "torch":
            raise KernelsUnavailable(f"{ENV}=torch but torch's kernels are not exact on this CPU ({bad})")
        return None
    return Kernels(gemm, torch)


def _extremes(rng, shape_a, shape_b):
    """Operand pairs whose partial sums reach the limit of int16 pair sums, and random ones."""
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


def _torch():
    """torch, when its GEMM is in use in this process (else None)."""
    return next((k.torch for k in _loaded.values() if k is not None), None)


def _cap(n: int):
    torch = _torch()
    if torch is None:
        return None
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    return torch, saved


def _uncap(token) -> None:
    if token is not None:
        torch, saved = token
        torch.set_num_threads(saved)


#: ``with limited(n):`` caps torch's intra-op threads at ``n`` inside the block when its GEMM is in
#: use (process-wide, like blas.limited; nested and concurrent uses share one cap)
limited = SharedCap(_cap, _uncap)
