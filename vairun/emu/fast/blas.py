"""The thread count of the OpenBLAS that numpy uses, read and set at run time (no contract rule: a
speed device; best effort, a no-op where no OpenBLAS is found).

Rule: when the emulator runs the images of a batch in several threads of its own, each thread's
matrix products must not start BLAS threads as well (more threads than cores slow everything down),
so :func:`limited` caps the BLAS thread count for the duration and restores it afterwards. The
setting is process-wide (OpenBLAS has no per-call thread count).
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
from contextlib import contextmanager

_NAMES = [("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
          ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
          ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
          ("openblas_set_num_threads", "openblas_get_num_threads")]

_funcs = None
_lock = threading.Lock()
_depth = 0
_saved = None


def _candidates() -> list[str]:
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                part = line.split()[-1] if line.strip() else ""
                if "openblas" in os.path.basename(part) and part not in paths:
                    paths.append(part)
    except OSError:
        pass
    try:
        import numpy
        paths += glob.glob(os.path.join(os.path.dirname(numpy.__file__), "..", "numpy.libs", "*openblas*"))
    except ImportError:
        pass
    return paths


def _find():
    """``(set, get)`` ctypes functions of the loaded OpenBLAS, or None."""
    global _funcs
    if _funcs is None:
        _funcs = False
        for path in _candidates():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for set_name, get_name in _NAMES:
                if hasattr(lib, set_name) and hasattr(lib, get_name):
                    setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    _funcs = (setter, getter)
                    break
            if _funcs:
                break
    return _funcs or None


def get_threads() -> int | None:
    """The BLAS thread count, or None when it cannot be read."""
    f = _find()
    return int(f[1]()) if f else None


def set_threads(n: int) -> bool:
    """Set the BLAS thread count (process-wide); False when it cannot be set."""
    f = _find()
    if not f:
        return False
    f[0](int(n))
    return True


@contextmanager
def limited(n: int):
    """Cap the BLAS thread count at ``n`` inside the block (nested and concurrent uses share one cap;
    the count in force before the outermost use is restored after it)."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = get_threads()
            if _saved is not None and _saved > n:
                set_threads(n)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None and _saved > n:
                set_threads(_saved)
