"""Reusable work buffers (no contract rule: a speed device).

Rule: an instruction's large transient arrays (im2col blocks and their float copies) live in
buffers that are reused from one instruction to the next, so they are not allocated and
page-faulted afresh every time. The view handed out for a (name, dtype, shape) is kept and handed
out again while the name's buffer stays (the same memory either way).
"""

from __future__ import annotations

import numpy as np


class Scratch:
    """Reusable work buffers for the transient arrays of one instruction (im2col blocks, their
    float copies). Reusing them avoids allocating (and page-faulting) fresh large arrays for every
    instruction; a buffer's contents are only valid until the next request of the same name."""

    def __init__(self):
        self._bufs: dict[tuple[str, str], np.ndarray] = {}
        self._views: dict[tuple, np.ndarray] = {}   # (name, dtype, shape) -> view of the current buffer

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A C-contiguous array of ``shape`` and ``dtype`` (uninitialised contents)."""
        view = self._views.get((name, dtype, shape))
        if view is not None:
            return view
        dt = np.dtype(dtype)
        size = 1
        for s in shape:
            size *= s
        key = (name, dt.str)
        buf = self._bufs.get(key)
        if buf is None or buf.size < size:
            buf = np.empty(max(size, 1), dtype=dt)
            self._bufs[key] = buf
            # drop the views of the replaced buffer (they would keep its memory alive)
            self._views = {k: v for k, v in self._views.items() if k[0] != name}
        if len(self._views) > 4096:
            self._views.clear()
        view = self._views[(name, dtype, shape)] = buf[:size].reshape(shape)
        return view
