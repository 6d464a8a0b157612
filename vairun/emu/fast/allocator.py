"""Keep freed heap memory mapped while the emulator runs (glibc only, best effort, once per process).

Rule: an instruction's transient arrays (tens to hundreds of KiB each) must not cost fresh-page
faults every time. With glibc's defaults the heap top is returned to the kernel whenever more than
128 KiB are free and arrays above 128 KiB are mmapped, so each instruction's temporaries fault their
pages in again; that costs more than the arithmetic. :func:`keep_heap` raises both thresholds to
64 MiB via ``mallopt`` (a process-wide setting: freed memory up to that size stays with the process,
as with any caching allocator). Set ``VAIRUN_KEEP_HEAP=0`` to leave the allocator alone; on other
C libraries this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 64 << 20

_done = False


def keep_heap() -> bool:
    """Raise glibc's trim and mmap thresholds once; True when the allocator was tuned."""
    global _done
    if _done:
        return True
    if os.environ.get("VAIRUN_KEEP_HEAP", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(M_TRIM_THRESHOLD, KEEP_BYTES)) and bool(mallopt(M_MMAP_THRESHOLD, KEEP_BYTES))
    return _done
