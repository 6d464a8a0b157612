"""Bank footprints: the lines one bank access covers, as prebuilt numpy views of the shadow planes.

Rule: a footprint depends only on the access tuple (``access.py``) and on the bank planes, which
are never reallocated, so it is built once per distinct access and reused: the bounds check, the
views a record needs and, for reads, the last maxima of the even planes with the write-log position
at which they were taken (a read may reuse them while no write since touched its lines, see
``Shadow.record``).
"""
from __future__ import annotations

import numpy as np

_AX1, _AX2, _AX3 = (1,), (1, 2), (1, 2, 3)


class Foot:
    """One distinct bank access. Writes: ``sel`` the odd planes (last access per engine), ``eng[e]``
    planes ``2e, 2e + 1``, ``tag`` planes 8 and 10. Reads: ``sel`` the even planes (last writer per
    engine, layer tags), ``eng[e]`` plane ``2e + 1``; ``m`` and ``pos`` the reusable maxima.
    ``fail`` holds the arguments of ``Shadow._bank_fail`` when the access leaves the banks."""
    __slots__ = ("a", "write", "lo", "hi", "one", "s", "last", "box", "ax", "nd", "sel", "eng", "tag", "m",
                 "pos", "fail")

    def __init__(self, bank: np.ndarray, depth: int | None, a: tuple):
        _, write, lo, hi, s, count, stride, width = a
        last = s + (count - 1) * stride + width
        self.a, self.write = a, bool(write)
        self.lo, self.hi, self.one, self.s, self.last = lo, hi, hi - lo == 1, s, last
        self.box = (lo, hi, s, last)
        self.m, self.pos = None, -1
        if depth is None or last > depth or s < 0:
            self.fail = (lo, hi, s, last, depth)
            return
        self.fail = None
        if count == 1 and hi - lo == 1:
            v = bank[:, lo, s:last]
            self.ax, self.nd = _AX1, 0
        elif count == 1 or width == 1:      # one run, or single lines ``stride`` apart
            v = bank[:, lo:hi, s:last:stride] if count > 1 else bank[:, lo:hi, s:last]
            self.ax, self.nd = _AX2, 1
        else:
            v = bank[:, lo:hi, s:s + count * stride].reshape(11, hi - lo, count, stride)[..., :width]
            self.ax, self.nd = _AX3, 2
        if write:
            self.sel = v[1:8:2]
            self.eng = [v[0:2], v[2:4], v[4:6], v[6:8]]
            self.tag = v[8:11:2]
        else:
            self.sel = v[0:11:2]
            self.eng = [v[1], v[3], v[5], v[7]]
            self.tag = None


def tags(l1: int) -> tuple:
    """(layer, -layer) shaped for the tag planes of a footprint of each ``nd``."""
    t = np.array([l1, -l1], dtype=np.int32)
    return t[:, None], t[:, None, None], t[:, None, None, None]
