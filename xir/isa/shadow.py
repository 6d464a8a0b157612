"""Shadow memory: what the stream has done to every bank line and DDR byte so far, and the checks
that need it. Instructions are recorded in stream order (``record``), by the emitter while it builds
the stream and by the verifier when it checks a stream on its own.

Hazards: ``record`` returns, for every other engine, the latest instruction of that engine that
wrote what the instruction reads or writes, or read what it writes. Engines run in order, so the
latest conflicting instruction of an engine stands for all its earlier ones: ordering the
instruction after these (at most one per engine) orders it after every conflicting access before
it. CONST (REG_0) is read-only and not tracked.

Checks, the first violation kept as ``violation`` = (instruction, access number, message) for the
verifier to report (recording goes on, so the emitter is never interrupted):
- every access stays inside the target's banks (existing bank ids, lines below the bank depth) and
  inside its DDR register; CONST is never written;
- every bank line read was last written by an instruction of the same layer;
- every DDR byte read holds an interface input or was written by a SAVE;
- CONST reads are listed (``const_reads``) and checked against the final CONST size by
  ``first_violation``, since parameters are still being laid out while the stream is built.

Layout, 0 meaning "never": bank lines ``[11, bank, line]`` int32 with planes ``2e`` the last writer
of engine ``e`` and ``2e + 1`` its last access (read or write; instruction index + 1), 8 the layer of
the last writer (layer id + 1), 10 its negation (plane 9 is unused): one maximum over the even
planes gives the hazards of a read and checks the layer of every line it reads, one over the odd
planes 1..7 the hazards of a write. DDR bytes, per register ``[3, cell]``: 0 the last SAVE,
1 ``-1`` where the bytes hold data (an interface input, or written), 2 the last LOAD. A DDR cell is
``granule`` bytes: the largest power of two (at most 64) dividing the start, width and stride of
every access so far, so each access covers whole cells and all bytes of a cell share their history;
an access that does not divide evenly first splits the cells (state copied to every part), which
keeps the record exact at byte level. Each distinct bank access is resolved once into a footprint
(footprint.py: bounds checked, views prebuilt). A read repeating an earlier read's access reuses its
maxima of the even planes while no bank write since touched its lines (only writes change those
planes): a write to other banks never counts, one to the same banks counts unless it is among the
last ``_SCAN`` writes and its line range misses the read's.
"""
from __future__ import annotations

import math

import numpy as np

from .bankmap import BankMap
from .footprint import Foot, tags

BANK_PAD = 2048     # lines of room for the last run of a strided view (jumps are < 1024 lines)
DDR_PAD = 1 << 16  # bytes of room (DDR jumps are < 65536 bytes)
DDR_GRANULE = 64   # bytes per DDR cell until an access needs finer ones
CONST_REG = 0

_MAX = np.maximum.reduce
_AX2 = (1, 2)
_SCAN = 8          # bank writes a reused read checks line by line before recomputing


def place_bytes(t) -> tuple[int, int, int, int]:
    """(start, count, stride, width) of a TensorPlace's bytes."""
    dims = list(t.dims)
    c = dims[-1]
    pix = t.pixel_stride or c
    n = 1
    for d in dims[1:-1]:
        n *= d
    return t.ddr_addr, max(n, 1), pix, c


class Shadow:
    def __init__(self, banks: BankMap, ddr_sizes: dict[int, int], inputs=(), target_name: str | None = None):
        nb = max(banks.info) + 1
        depth = max(d for _, d in banks.info.values())
        self.bank_depth = {b: d for b, (_, d) in banks.info.items()}
        self.target_name = target_name or banks.t.name
        self.bank = np.zeros((11, nb, depth + BANK_PAD), dtype=np.int32)
        self.ddr_size = {r: s for r, s in ddr_sizes.items() if r != CONST_REG}
        self.granule = {r: DDR_GRANULE for r in self.ddr_size}
        self.ddr = {r: np.zeros((3, -(-(s + DDR_PAD) // DDR_GRANULE)), dtype=np.int32)
                    for r, s in self.ddr_size.items()}
        for t in inputs:
            if t.reg_id in self.ddr:
                self._ddr_cells(t.reg_id, *place_bytes(t))[1] = -1
        self.layers: dict[object, int] = {}
        self.preds: list[tuple[int, ...]] = []     # per recorded instruction
        self.const_reads: list[tuple[int, int, int, int]] = []   # (instruction, access no., start, end)
        self.violation: tuple[int, int, str] | None = None
        self._tag_of: dict[int, tuple] = {}        # layer id + 1 -> planes 8 and 10 of its writes
        self._written = np.array([[0], [-1]], dtype=np.int32)
        self._feet: dict[tuple, Foot] = {}         # bank access -> its footprint
        self._wlog: list[tuple] = []               # (lo, hi, start, end) of every bank write so far
        self._lastw = [0] * nb                     # per bank: len(_wlog) after its last write

    # ------------------------------------------------------------------ helpers
    def _ddr_cells(self, reg: int, start: int, count: int, stride: int, width: int):
        """The cells of DDR register ``reg`` covering ``count`` runs of ``width`` bytes ``stride``
        apart from ``start`` (splitting the cells first when the access does not divide evenly)."""
        g = self.granule[reg]
        if start % g or width % g or (count > 1 and stride % g):
            g = self._split(reg, math.gcd(g, start, width, stride if count > 1 else 0))
        arr = self.ddr[reg]
        if count == 1:
            return arr[:, start // g:(start + width) // g]
        s = start // g
        return arr[:, s:s + count * (stride // g)].reshape(3, count, stride // g)[:, :, :width // g]

    def _split(self, reg: int, g2: int) -> int:
        """Cells of ``g2`` bytes (a divisor of the current granule) for register ``reg``."""
        self.ddr[reg] = np.repeat(self.ddr[reg], self.granule[reg] // g2, axis=1)
        self.granule[reg] = g2
        return g2

    def _tags(self, l1: int) -> tuple:
        tg = self._tag_of.get(l1)
        if tg is None:
            tg = self._tag_of[l1] = tags(l1)
        return tg

    def _fail(self, idx: int, seq: int, msg: str) -> None:
        if self.violation is None:
            self.violation = (idx, seq, msg)

    def _foot(self, a: tuple) -> Foot:
        lo, hi = a[2], a[3]
        bd = self.bank_depth
        d = None
        if hi > lo and all(b in bd for b in range(lo, hi)):
            d = min(bd[b] for b in range(lo, hi))
        f = self._feet[a] = Foot(self.bank, d, a)
        return f

    def _fresh(self, f: Foot) -> bool:
        """Whether none of the bank writes since ``f.pos`` (at most the last ``_SCAN``) touched the
        line range of ``f`` in its banks: then its even planes are as ``f.m`` found them."""
        lo, hi = f.lo, f.hi
        if len(self._wlog) - f.pos > _SCAN:
            return False
        s, last = f.s, f.last
        for wlo, whi, ws, wlast in self._wlog[f.pos:]:
            if wlo < hi and lo < whi and ws < last and s < wlast:
                return False
        return True

    def layer_name(self, lid: int) -> str:
        for k, v in self.layers.items():
            if v == lid:
                return str(k)
        return "?"

    # ------------------------------------------------------------------ recording
    def skip(self) -> None:
        """An instruction without accesses (INIT, END)."""
        self.preds.append(())

    def record(self, idx: int, engine: int, layer, acc: list[tuple]) -> tuple[int, ...]:
        """Record the accesses ``acc`` of instruction ``idx`` (engine ``engine``, layer ``layer``);
        return its hazards (module rule), ascending, and keep them in ``preds``. DDR is written by
        SAVE and read by LOAD (access.py)."""
        if idx != len(self.preds):
            raise ValueError(f"instruction {idx} recorded out of stream order (expected {len(self.preds)})")
        lid = self.layers.get(layer)
        if lid is None:
            lid = self.layers[layer] = len(self.layers)
        i1 = idx + 1
        l1 = lid + 1
        b0 = b1 = b2 = b3 = 0          # latest bank hazard (index + 1) per engine, own engine included
        d0 = d1 = 0                    # latest DDR hazard: a LOAD (for a SAVE), a SAVE (for a LOAD)
        wlog, lastw, feet = self._wlog, self._lastw, self._feet
        for k, a in enumerate(acc):
            if a[0] == "B":
                f = feet.get(a)
                if f is None:
                    if a[7] <= 0:
                        continue
                    f = self._foot(a)
                if f.fail is not None:
                    self._bank_fail(idx, k, *f.fail)
                    continue
                if f.write:
                    m = _MAX(f.sel, axis=f.ax).tolist()
                    f.eng[engine][...] = i1
                    tg = self._tag_of.get(l1)
                    if tg is None:
                        tg = self._tags(l1)
                    f.tag[...] = tg[f.nd]
                    wlog.append(f.box)
                    if f.one:
                        lastw[f.lo] = len(wlog)
                    else:
                        lastw[f.lo:f.hi] = [len(wlog)] * (f.hi - f.lo)
                else:
                    pos = f.pos
                    if pos >= 0 and ((lastw[f.lo] if f.one else max(lastw[f.lo:f.hi])) <= pos or self._fresh(f)):
                        m = f.m
                    else:
                        m = f.m = _MAX(f.sel, axis=f.ax).tolist()
                    f.pos = len(wlog)
                    f.eng[engine][...] = i1
                    if m[4] != l1 or m[5] != -l1:
                        self._read_fail(idx, k, l1, *f.a[2:])
                if m[0] > b0:
                    b0 = m[0]
                if m[1] > b1:
                    b1 = m[1]
                if m[2] > b2:
                    b2 = m[2]
                if m[3] > b3:
                    b3 = m[3]
                continue
            sp, write, lo, hi, s, count, stride, width = a
            if width <= 0:
                continue
            last = s + (count - 1) * stride + width
            if lo == CONST_REG:
                if write:
                    self._fail(idx, k, "writes CONST")
                else:
                    self.const_reads.append((idx, k, s, last))
                continue
            size = self.ddr_size.get(lo)
            if size is None or last > size or s < 0:
                self._fail(idx, k, f"DDR register {lo} access {s}..{last - 1} outside its "
                                   f"{size or 0} bytes")
                continue
            if count > 1 and stride <= width:    # back-to-back, overlapping or repeated runs: their union
                count, width = 1, last - s
            g = self.granule[lo]
            if count == 1 and not (s % g or width % g):
                v = self.ddr[lo][:, s // g:(s + width) // g]
            else:
                v = self._ddr_cells(lo, s, count, stride, width)
            if write:    # SAVE: after the LOADs that read these bytes
                p = int(_MAX(v[2], axis=None))
                w = self._written
                w[0, 0] = i1
                v[:2] = w if count == 1 else w[..., None]
                if p > d0:
                    d0 = p
            else:        # LOAD: after the SAVEs that wrote them; they must hold data
                m = _MAX(v[:2], axis=_AX2 if count > 1 else 1).tolist()
                v[2] = i1
                if m[1] != -1:
                    self._fail(idx, k, f"reads DDR register {lo} bytes {s}..{last - 1} before they are written")
                if m[0] > d1:
                    d1 = m[0]
        if engine == 0:
            b0 = d0
        elif d0 > b0:
            b0 = d0
        if engine == 1:
            b1 = d1
        elif d1 > b1:
            b1 = d1
        if engine == 2:
            b2 = 0
        elif engine == 3:
            b3 = 0
        if b0 or b1 or b2 or b3:
            out = tuple(sorted([p - 1 for p in (b0, b1, b2, b3) if p]))
        else:
            out = ()
        self.preds.append(out)
        return out

    def _bank_fail(self, idx, k, lo, hi, s, last, d) -> None:
        if d is None:
            missing = [b for b in range(lo, hi) if b not in self.bank_depth]
            self._fail(idx, k, f"bank id {missing[0] if missing else lo} does not exist on {self.target_name}")
        else:
            self._fail(idx, k, f"lines {s}..{last - 1} of banks {lo}..{hi - 1} exceed their depth {d}")

    def _read_fail(self, idx, k, l1, lo, hi, s, count, stride, width) -> None:
        last = s + (count - 1) * stride + width
        if count == 1:
            t = self.bank[8, lo:hi, s:s + width]
        else:
            t = self.bank[8, lo:hi, s:s + count * stride].reshape(hi - lo, count, stride)[..., :width]
        bad = int(t[t != l1].flat[0]) - 1
        what = "never written" if bad < 0 else f"written for another layer ({self.layer_name(bad)})"
        self._fail(idx, k, f"reads lines {s}..{last - 1} of banks {lo}..{hi - 1}: {what}")

    def unsaved(self, reg: int, start: int, count: int, stride: int, width: int) -> int | None:
        """The first byte of ``count`` runs of ``width`` bytes ``stride`` apart from ``start`` in DDR
        register ``reg`` that no SAVE wrote (the register's end if the runs leave it); None when a SAVE
        wrote every one."""
        size = self.ddr_size.get(reg, 0)
        last = start + (count - 1) * stride + width
        if start < 0 or last > size:
            return max(start, size) if start >= 0 else start
        if width <= 0:
            return None
        if count > 1 and stride <= width:
            count, width = 1, last - start
        v = self._ddr_cells(reg, start, count, stride, width)[0].reshape(count, -1)
        bad = np.argwhere(v == 0)
        if not len(bad):
            return None
        r, c = (int(x) for x in bad[0])
        return start + r * stride + c * self.granule[reg]

    def savers(self, reg: int, start: int, count: int, stride: int, width: int) -> set[int]:
        """The instructions (indices) whose SAVEs last wrote the given bytes (call after ``unsaved``
        found every byte written)."""
        if count > 1 and stride <= width:
            count, width = 1, start + (count - 1) * stride + width - start
        v = self._ddr_cells(reg, start, count, stride, width)[0]
        return {int(i) - 1 for i in np.unique(v) if i > 0}

    def first_violation(self, const_size: int) -> tuple[int, str] | None:
        """The first violation in stream order, CONST reads checked against ``const_size`` bytes."""
        first = self.violation
        for idx, seq, s, last in self.const_reads:
            if last > const_size or s < 0:
                if first is None or (idx, seq) < first[:2]:
                    first = (idx, seq, f"CONST access {s}..{last - 1} outside its {const_size} bytes")
                break
        return None if first is None else (first[0], first[2])
