"""Shadow memory: for every bank line and DDR byte, the last instruction of each engine that wrote
it and that read it. Engines run in order, so the latest access of an engine stands for all its
earlier ones: one maximum per engine is all a hazard check needs.

Bank lines: array ``[8, banks, depth]`` (rows 0..3 last writer per engine, 4..7 last reader).
DDR bytes: per register ``[2, size]`` (row 0 last SAVE writing, row 1 last LOAD reading); CONST is
read-only and not tracked. ``-1`` = never accessed; DDR row 0 holds ``-2`` for bytes that hold data
before the stream starts (interface inputs).
"""
from __future__ import annotations

import numpy as np

from .banks import Banks

BANK_PAD = 2048     # lines of room for the last run of a strided view (jumps are < 1024 lines)
DDR_PAD = 1 << 16  # bytes of room (DDR jumps are < 65536 bytes)


_NONE = np.full(8, -1)


class Shadow:
    def __init__(self, banks: Banks, ddr_sizes: dict[int, int]):
        nb = max(banks.info) + 1
        depth = max(d for _, d in banks.info.values())
        self.depth = {b: d for b, (_, d) in banks.info.items()}
        self.bank = np.full((8, nb, depth + BANK_PAD), -1, dtype=np.int32)
        self.ddr = {r: np.full((2, s + DDR_PAD), -1, dtype=np.int32) for r, s in ddr_sizes.items()}
        self.ddr_size = dict(ddr_sizes)

    @staticmethod
    def _view(arr, lo, hi, start, count, stride, width):
        if count == 1:
            return arr[:, lo:hi, start:start + width]
        v = arr[:, lo:hi, start:start + count * stride]
        return v.reshape(v.shape[0], hi - lo, count, stride)[:, :, :, :width]

    def bank_access(self, idx: int, engine: int, write: bool, lo, hi, start, count, stride, width) -> np.ndarray:
        """Record the access; return the per-engine maxima it conflicts with: writers 0..3, and for a
        write also readers 4..7 (a read does not conflict with reads)."""
        a = self.bank
        if width <= 0:
            return _NONE
        if count == 1:
            if write:
                m = a[:, lo:hi, start:start + width].max(axis=(1, 2))
                a[engine, lo:hi, start:start + width] = idx
            else:
                m = a[:4, lo:hi, start:start + width].max(axis=(1, 2))
                a[4 + engine, lo:hi, start:start + width] = idx
            return m
        v = self._view(a, lo, hi, start, count, stride, width)
        m = v.max(axis=(1, 2, 3)) if write else v[:4].max(axis=(1, 2, 3))
        v[engine if write else 4 + engine] = idx
        return m

    def ddr_view(self, reg: int, start: int, count: int, stride: int, width: int):
        a = self.ddr[reg]
        if count == 1:
            return a[:, start:start + width]
        v = a[:, start:start + count * stride]
        return v.reshape(2, count, stride)[:, :, :width]

    def ddr_access(self, idx: int, write: bool, reg, start, count, stride, width) -> int:
        """Record a DDR access (SAVE writes, LOAD reads); return the latest conflicting instruction
        of the other engine (LOAD readers for a write, SAVE writers for a read), or -1."""
        v = self.ddr_view(reg, start, count, stride, width)
        if v.size == 0:
            return -1
        if write:
            m = int(v[1].max())
            v[0] = idx
        else:
            m = int(v[0].max())
            v[1] = idx
        return m
