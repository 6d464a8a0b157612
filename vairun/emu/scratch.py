"""Reusable work buffers (no contract rule: a speed device).

Rule: an instruction's large transient arrays (im2col blocks and their float copies) live in
buffers that are reused from one instruction to the next, so they are not allocated and
page-faulted afresh every time.
"""

from __future__ import annotations

import numpy as np


class Scratch:
    """Reusable work buffers for the transient arrays of one instruction (im2col blocks, their
    float copies). Reusing them avoids allocating (and page-faulting) fresh large arrays for every
    instruction; a buffer's contents are only valid until the next request of the same name."""

    def __init__(self):
        self._bufs: dict[tuple[str, str], np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A C-contiguous array of ``shape`` and ``dtype`` (uninitialised contents)."""
        dtype = np.dtype(dtype)
        size = 1
        for s in shape:
            size *= s
        key = (name, dtype.str)
        buf = self._bufs.get(key)
        if buf is None or buf.size < size:
            buf = np.empty(max(size, 1), dtype=dtype)
            self._bufs[key] = buf
        return buf[:size].reshape(shape)
