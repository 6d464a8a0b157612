"""The thread count of the BLAS numpy uses, through threadpoolctl (no contract rule: a speed device;
a no-op where threadpoolctl finds no BLAS).

Rule: when the emulator runs the images of a batch in several threads of its own, each thread's
matrix products must not start BLAS threads as well (more threads than cores slow everything down),
so :data:`limited` caps the BLAS thread count for the duration and restores it afterwards. The
setting is process-wide: numpy 2.x's wheels link scipy-openblas (pthreads build), whose
``openblas_set_num_threads`` changes one global count, so a cap set from any thread holds for the
products of every thread (tests/vairun/test_emu_blas.py checks it from a worker thread).

threadpoolctl guards that global count: for an OpenBLAS without OpenMP it lets only its *controlling
thread* (the first thread that set a limit, until it hands control back) change it, and silently
ignores the others (threadpoolctl's ``OpenBLASController`` docstring). A limit set outside a ``with``
block, or ended in another thread, never hands control back, so every later cap from another
thread was a no-op: that is why a cap from a worker thread seemed not to reach numpy. Every change
here therefore hands control back at once (:func:`_release`), under this module's lock.
"""

from __future__ import annotations

import threading

from threadpoolctl import ThreadpoolController

from .threadcap import SharedCap

_controller: ThreadpoolController | None = None
_lock = threading.Lock()


def _blas():
    """threadpoolctl's view of the BLAS libraries loaded now (numpy's among them)."""
    global _controller
    if _controller is None:
        import numpy  # noqa: F401 - its BLAS must be loaded for threadpoolctl to see it
        _controller = ThreadpoolController()
    return _controller.select(user_api="blas")


def _release() -> None:
    """Hand threadpoolctl's control of OpenBLAS's process-wide count back (see the module docstring)."""
    for lib in _blas().lib_controllers:
        clear = getattr(type(lib), "clear_controlling_thread", None)
        if clear is not None:
            clear(force=True)


def get_threads() -> int | None:
    """The BLAS thread count (the smallest over the loaded BLAS libraries), or None when none is found."""
    counts = [lib.num_threads for lib in _blas().lib_controllers]
    return min(counts) if counts else None


def set_threads(n: int) -> bool:
    """Set the BLAS thread count (process-wide) for good; False when no BLAS is found."""
    blas = _blas()
    if not blas.lib_controllers:
        return False
    with _lock:
        blas.limit(limits=int(n))
        _release()
    return True


def _cap(n: int):
    limiter = _blas().limit(limits=n)
    _release()
    return limiter


def _uncap(limiter) -> None:
    limiter.restore_original_limits()
    _release()


#: ``with limited(n):`` caps the BLAS thread count at ``n`` inside the block (nested and concurrent
#: uses share one cap; the counts in force before the outermost use are restored after it)
limited = SharedCap(_cap, _uncap, _lock)
