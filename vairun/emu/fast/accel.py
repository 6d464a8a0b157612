"""The fast executor's accelerated kernels and the setting that selects them (no contract rule: a
speed device; every kernel is exact, so results do not depend on the choice).

Two sets, each optional and self-tested before its first use:

* ``torch``: an exact int8 GEMM for CONV groups. numpy has no integer BLAS, so the fast executor's own
  CONV multiplies int8 values as float32 (exact in chunks of 1024 terms, finish.py).
  ``torch._int_mm`` multiplies int8 ``[M, K]`` by int8 ``[K, N]`` into int32 ``[M, N]``; on CPUs
  with 8-bit dot-product instructions (AVX512-VNNI, AVX-VNNI, ARM dot product) it is about four
  times faster than a float32 product (measured: scripts/bench_emulator.py, docs/vairun.md). The
  sums are exact while ``K * 2**14 < 2**31`` (:data:`MAX_TERMS`); longer reductions stay on the
  float path.
* ``native``: the package's compiled kernels (native.py, ``_native.c``): a DPTWISE block's tap sums
  and int32 finishing in one pass, where numpy needs a nine-fold gather and five passes over it,
  and a CONV group's int32 finishing written straight into its output pixels. ``auto`` uses them
  only with vector instructions (AVX2 or SSE2 on x86-64); their plain-C form is slower than numpy's
  passes and runs only when named.

``VAIRUN_EMU_KERNELS`` selects:

* ``auto`` (default): every set that loads and passes its self-test;
* ``numpy``: none (torch is never imported);
* ``torch``, ``native`` or ``torch,native``: exactly those, and an error when one of them is missing
  or fails its self-test.

torch is a dependency of the package (vaiq), but vairun must start without it (docs/vairun.md), so it
is imported only when a fused program is first built, and only as the setting allows.

GEMM self-test: some integer GEMMs sum pairs of u8 x s8 products in int16 with saturation (x86
without VNNI: the reason quantization libraries offer a "reduce range" mode), which is not exact over
the DPU's full int8 range. So products whose partial sums reach that limit (all 127 x 127, all
-128 x -128, mixed signs, random; K not a multiple of 4, one row, odd shapes) are compared with
numpy's int64 product; any difference and the GEMM is not used (``auto``) or an error is raised.

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
from . import native
from .threadcap import SharedCap

ENV = "VAIRUN_EMU_KERNELS"
#: the kernel sets a setting may name (besides ``auto`` and ``numpy``)
SETS = ("torch", "native")
#: Longest reduction an int32 accumulator holds exactly (2**14 * MAX_TERMS < 2**31).
MAX_TERMS = ((1 << 31) - 1) // MAX_PRODUCT


class KernelsUnavailable(RuntimeError):
    """VAIRUN_EMU_KERNELS has an invalid value, or names a kernel set that cannot be used."""


@dataclass(frozen=True)
class Kernels:
    """The kernel sets in use (None: not in use; see the module docstring)."""

    gemm: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
    torch: object = None
    #: the self-tested extension module and the instruction set its kernels run on; or, when it is
    #: not in use under ``auto``, why (e.g. "not built")
    native: object = None
    native_isa: str = ""
    native_note: str = ""


NONE = Kernels()

_lock = threading.Lock()
_loaded: dict[tuple[bool, frozenset], Kernels] = {}


def mode() -> tuple[bool, frozenset]:
    """The VAIRUN_EMU_KERNELS setting (checked): ``(auto, required sets)``."""
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value in ("auto", "numpy"):
        return value == "auto", frozenset()
    names = [v.strip() for v in value.split(",")]
    if not all(n in SETS for n in names):
        raise KernelsUnavailable(f"{ENV}={value!r} is not auto, numpy, or a comma-separated list of "
                                 f"{', '.join(SETS)}")
    return False, frozenset(names)


def kernels() -> Kernels:
    """The kernels in use under the current setting (:data:`NONE`: numpy's only)."""
    key = mode()
    with _lock:
        if key not in _loaded:
            _loaded[key] = _load(*key)
        return _loaded[key]


def describe() -> str:
    """What the fast executor computes with under the current setting (for benchmarks and logs)."""
    try:
        k = kernels()
    except KernelsUnavailable as exc:
        return f"unavailable ({exc})"
    products = "numpy float32 BLAS" if k.gemm is None else f"torch {k.torch.__version__} int8 GEMM"
    if k.native is not None:
        compiled = f"{k.native_isa} (DPTWISE, int32 finishing)"
    else:
        compiled = "not in use" + (f" ({k.native_note})" if k.native_note else "")
    return f"CONV products: {products}; native kernels: {compiled}"


def _load(auto: bool, required: frozenset) -> Kernels:
    gemm = torch = mod = None
    isa = note = ""
    if auto or "torch" in required:
        gemm, torch = _load_torch("torch" in required)
    if auto or "native" in required:
        mod, isa, note = _load_native("native" in required)
    return Kernels(gemm, torch, mod, isa, note)


def _load_torch(required: bool):
    """torch's exact GEMM and torch, or ``(None, None)`` (an error when ``required``)."""
    try:
        import torch
        int_mm = torch._int_mm
    except (ImportError, AttributeError) as exc:
        if required:
            raise KernelsUnavailable(f"{ENV}=torch needs torch with torch._int_mm ({exc})") from None
        return None, None

    def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
        int_mm(torch.from_numpy(a), torch.from_numpy(b), out=torch.from_numpy(out))
        return out

    bad = _test_gemm(gemm)
    if bad:
        if required:
            raise KernelsUnavailable(f"{ENV} names torch but torch's kernels are not exact on this CPU ({bad})")
        return None, None
    return gemm, torch


def _load_native(required: bool):
    """``(module, instruction set, "")`` of the self-tested compiled kernels, or ``(None, "", why
    not)`` (an error when ``required``)."""
    mod = native.load()
    if mod is None:
        if required:
            raise KernelsUnavailable(f"{ENV} names native but the compiled kernels are not built (install the "
                                     f"package with a C compiler present: pip install -e .)")
        return None, "", "not built: install the package with a C compiler present"
    isa = native.isas(mod)[0][0]
    if isa == "scalar" and not required:
        # numpy's passes are faster than the plain-C form
        return None, "", "no vector instructions for this CPU"
    bad = native.self_test(mod)
    if bad:
        if required:
            raise KernelsUnavailable(f"{ENV} names native but the compiled kernels are not exact on this CPU "
                                     f"({bad})")
        return None, "", f"self-test failed: {bad}"
    return mod, isa, ""


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
    return next((k.torch for k in _loaded.values() if k.torch is not None), None)


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
