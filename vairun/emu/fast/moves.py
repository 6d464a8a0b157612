"""Byte moves between the machine's memories, as few numpy operations as possible (no contract rule:
a speed device for LOAD, SAVE and the output scatter of fused compute instructions).

Rules:

* A move is a list of *runs*: ``length`` consecutive destination bytes from ``dst`` on take
  ``length`` consecutive source bytes from ``src`` on, or (``src = -1``) the constant ``value``.
  Destinations and sources are flat byte offsets into one image's buffer; a move is executed for
  every image at once (a source shared by the batch, ``[1, size]``, is broadcast).
* Runs listed later win: when runs overlap in the destination, :func:`normalize` keeps, for every
  byte, the run listed last (the order of the instructions a fused move replaces), so executing the
  normalized runs in any order gives the bytes the instructions give one after another.
* A normalized move is executed as a few slice assignments when its runs form few *progressions*
  (runs of one length whose destinations and sources advance by constant steps: one strided view
  assignment each, e.g. a row of 3-byte pixels into 16-byte lines), else as one gather and one
  scatter of fixed-size items (the largest size that divides every run) through views that see every
  byte offset as the start of an item.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

import numpy as np

#: Up to this many progressions a move copies slices (each costs a few microseconds); beyond, items.
MAX_SLICES = 24
#: Progressions shorter than this are copied run by run (a strided view costs more than a few slices).
MIN_STRIDED = 4
#: Items at most this large (bytes); a gcd above it is reduced to a divisor.
MAX_ITEM = 1024


@dataclass(slots=True)
class Runs:
    """Byte runs ``dst[d : d + n] = src[s : s + n]`` (``s = -1``: every byte is ``value``)."""

    dst: np.ndarray     # int64 [k] destination offsets
    src: np.ndarray     # int64 [k] source offsets, -1 for constant runs
    length: np.ndarray  # int64 [k] bytes per run (> 0)
    value: np.ndarray   # int8 [k] the constant of constant runs (0 elsewhere)

    @staticmethod
    def empty() -> "Runs":
        z = np.zeros(0, dtype=np.int64)
        return Runs(z, z, z, np.zeros(0, dtype=np.int8))

    @staticmethod
    def of(dst, src, length, value=None) -> "Runs":
        """Runs from broadcastable arrays (flattened; runs of length 0 dropped)."""
        parts = [np.asarray(dst, np.int64), np.asarray(src, np.int64), np.asarray(length, np.int64),
                 np.asarray(0 if value is None else value, np.int8)]
        shape = np.broadcast_shapes(*(a.shape for a in parts))
        out = []
        for a in parts:
            full = np.empty(shape, dtype=a.dtype)
            full[...] = a
            out.append(full.reshape(-1))
        keep = out[2] > 0
        if not keep.all():
            out = [a[keep] for a in out]
        return Runs(*out)

    @staticmethod
    def concat(parts) -> "Runs":
        parts = [p for p in parts if p.dst.size]
        if not parts:
            return Runs.empty()
        return Runs(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("dst", "src", "length", "value")))

    @property
    def nbytes(self) -> int:
        return int(self.length.sum())


def _expand(r: Runs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-byte (dst, src, value) of the runs, in run order (src -1 for constants)."""
    n = r.length
    total = int(n.sum())
    run_of = np.repeat(np.arange(n.size), n)
    first = np.cumsum(n) - n
    k = np.arange(total, dtype=np.int64) - first[run_of]
    dst = r.dst[run_of] + k
    src = np.where(r.src[run_of] >= 0, r.src[run_of] + k, -1)
    return dst, src, r.value[run_of]


def _from_bytes(dst: np.ndarray, src: np.ndarray, value: np.ndarray) -> Runs:
    """Runs of per-byte moves sorted by destination (consecutive bytes merged)."""
    if not dst.size:
        return Runs.empty()
    const = src < 0
    brk = np.ones(dst.size, dtype=bool)
    brk[1:] = ((dst[1:] != dst[:-1] + 1) | (const[1:] != const[:-1])
               | (~const[1:] & (src[1:] != src[:-1] + 1)) | (const[1:] & (value[1:] != value[:-1])))
    starts = np.nonzero(brk)[0]
    lengths = np.diff(np.append(starts, dst.size))
    return Runs(dst[starts], np.where(const[starts], -1, src[starts]), lengths, value[starts])


def normalize(r: Runs) -> Runs:
    """The same effect as executing the runs in order, as non-overlapping runs sorted by destination
    with adjacent runs merged."""
    if not r.dst.size:
        return r
    order = np.argsort(r.dst, kind="stable")
    d, s, n, v = r.dst[order], r.src[order], r.length[order], r.value[order]
    if np.any(d[1:] < d[:-1] + n[:-1]):
        # overlapping destinations: resolve byte by byte, the run listed last wins
        bd, bs, bv = _expand(r)
        u, first = np.unique(bd[::-1], return_index=True)
        keep = bd.size - 1 - first
        return _from_bytes(u, bs[keep], bv[keep])
    # merge neighbours: destination and source both continue (or the same constant continues)
    cont = np.zeros(d.size, dtype=bool)
    cont[1:] = (d[1:] == d[:-1] + n[:-1]) & (
        ((s[1:] >= 0) & (s[:-1] >= 0) & (s[1:] == s[:-1] + n[:-1]))
        | ((s[1:] < 0) & (s[:-1] < 0) & (v[1:] == v[:-1])))
    if not cont.any():
        return Runs(d, s, n, v)
    starts = np.nonzero(~cont)[0]
    lengths = np.add.reduceat(n, starts)
    return Runs(d[starts], s[starts], lengths, v[starts])


def item_view(flat: np.ndarray, item: int) -> np.ndarray:
    """``flat`` (C-contiguous ``[rows, n]`` bytes) seen as ``[rows, n - item + 1]`` items of ``item``
    bytes, item ``j`` starting at byte ``j`` (items overlap; a move touches disjoint ones)."""
    if item == 1:
        return flat
    rows, n = flat.shape
    return np.ndarray((rows, n - item + 1), dtype=np.dtype((np.void, item)), buffer=flat,
                      strides=(flat.strides[0], 1))


def _progressions(d: np.ndarray, s: np.ndarray, n: np.ndarray, limit: int):
    """Slice operations for runs sorted by destination, or None when more than ``limit`` are needed.

    An operation is ``(d0, s0, length, counts, d_steps, s_steps)``: the runs of a (possibly nested)
    progression, run ``(j1, j2, ...)`` at ``d0 + sum(j * d_step)`` from ``s0 + sum(j * s_step)``
    (``counts`` empty: a single run). Consecutive progressions of the same shape whose starts advance
    by constant steps are nested into one operation (e.g. one LOAD row per bank, each a progression of
    pixels)."""
    ops = []
    total = d.size
    dd, ds, same = np.diff(d), np.diff(s), n[1:] == n[:-1]
    # pair j (run j -> j + 1) continues the progression of pair j - 1 unless one of these differs
    change = np.ones(dd.size + 1, dtype=bool)
    change[1:-1] = ~(same[1:] & same[:-1] & (dd[1:] == dd[:-1]) & (ds[1:] == ds[:-1]))
    breaks = np.flatnonzero(change)
    i = 0
    while i < total:
        count = 1
        if i + 1 < total and same[i] and ds[i] >= 0:
            # pairs i .. next break - 1 are equal: runs i .. next break form the progression
            count = 1 + int(breaks[np.searchsorted(breaks, i, side="right")]) - i
        if count < MIN_STRIDED:
            count = 1
            op = (int(d[i]), int(s[i]), int(n[i]), (), (), ())
        else:
            op = (int(d[i]), int(s[i]), int(n[i]), (count,), (int(dd[i]),), (int(ds[i]),))
        i += count
        if ops and op[3] and _nest(ops, op):
            continue
        if len(ops) >= limit:
            return None
        ops.append(op)
    return ops


def _nest(ops: list, op: tuple) -> bool:
    """Fold the single-level progression ``op`` into the last operation when that is the same
    progression one outer step earlier; True when folded."""
    d0, s0, length, counts, d_steps, s_steps = ops[-1]
    if length != op[2]:
        return False
    if len(counts) == 1 and (counts, d_steps, s_steps) == op[3:]:
        if op[1] - s0 >= 0:
            ops[-1] = (d0, s0, length, (2,) + counts, (op[0] - d0,) + d_steps, (op[1] - s0,) + s_steps)
            return True
    elif len(counts) == 2 and (counts[1:], d_steps[1:], s_steps[1:]) == op[3:]:
        if op[0] == d0 + counts[0] * d_steps[0] and op[1] == s0 + counts[0] * s_steps[0]:
            ops[-1] = (d0, s0, length, (counts[0] + 1,) + counts[1:], d_steps, s_steps)
            return True
    return False


def _strided(flat: np.ndarray, offset: int, counts: tuple, steps: tuple, length: int) -> np.ndarray:
    """The runs of a progression in every image of ``flat``: ``[rows, *counts, length]`` bytes."""
    return np.ndarray((flat.shape[0],) + counts + (length,), dtype=flat.dtype, buffer=flat, offset=offset,
                      strides=(flat.strides[0],) + steps + (1,))


def dest_view(flat: np.ndarray, where: tuple) -> np.ndarray:
    """The destination of :meth:`Mover.whole_source` in every image of ``flat``: a view
    ``[rows, *counts, length]`` whose C-ordered elements are the source bytes in order."""
    offset, counts, steps, length = where
    return _strided(flat, offset, counts, steps, length)


class Mover:
    """A normalized set of runs from one source space into one destination space, ready to run."""

    __slots__ = ("slices", "item", "dst_idx", "src_idx", "const_slices", "const_idx", "const_val",
                 "nbytes", "dst_last", "src_last")

    def __init__(self, runs: Runs):
        r = normalize(runs)
        const = r.src < 0
        self.nbytes = r.nbytes
        self.dst_last = int((r.dst + r.length).max()) - 1 if r.dst.size else -1
        moved = ~const
        self.src_last = int((r.src[moved] + r.length[moved]).max()) - 1 if moved.any() else -1
        self.slices = self.dst_idx = self.src_idx = None
        self.item = 1
        d, s, n = r.dst[moved], r.src[moved], r.length[moved]
        self.slices = _progressions(d, s, n, MAX_SLICES)
        if self.slices is None:
            item = 0
            for k in np.unique(n):
                item = gcd(item, int(k))
            if item > MAX_ITEM:
                item = next(f for f in range(MAX_ITEM, 0, -1) if item % f == 0)
            self.item = item
            per = n // item
            run_of = np.repeat(np.arange(d.size), per)
            k = (np.arange(int(per.sum()), dtype=np.int64) - (np.cumsum(per) - per)[run_of]) * item
            self.dst_idx = d[run_of] + k
            self.src_idx = s[run_of] + k
        # constants: slices when few, else byte indices
        cd, cn, cv = r.dst[const], r.length[const], r.value[const]
        self.const_slices = self.const_idx = self.const_val = None
        if cd.size <= MAX_SLICES:
            self.const_slices = [(int(a), int(a + k), int(v)) for a, k, v in zip(cd, cn, cv)]
        else:
            bd, _, bv = _expand(Runs(cd, np.full(cd.size, -1, np.int64), cn, cv))
            self.const_idx, self.const_val = bd, bv

    def whole_source(self, size: int) -> tuple | None:
        """When this move copies a C-ordered source of exactly ``size`` bytes, from its byte 0, as one
        progression (and sets no constants): its destination as ``(offset, counts, steps, length)``
        for :func:`dest_view`, so a producer may write straight there; else None."""
        if not self.slices or len(self.slices) != 1 or self.const_slices or self.const_idx is not None:
            return None
        d0, s0, length, counts, d_steps, s_steps = self.slices[0]
        c_steps, step = [], length
        for c in reversed(counts):
            c_steps.append(step)
            step *= c
        if s0 != 0 or step != size or tuple(reversed(c_steps)) != s_steps:
            return None
        return d0, counts, d_steps, length

    def run(self, dst: np.ndarray, src: np.ndarray | None) -> None:
        """Execute into ``dst`` (``[B, n]`` bytes) from ``src`` (``[1 or B, m]`` bytes)."""
        if self.slices is not None:
            for d0, s0, length, counts, d_steps, s_steps in self.slices:
                if counts:
                    _strided(dst, d0, counts, d_steps, length)[...] = _strided(src, s0, counts, s_steps, length)
                else:
                    dst[:, d0:d0 + length] = src[:, s0:s0 + length]
        elif self.dst_idx is not None and self.dst_idx.size:
            if self.item == 1:
                dst[:, self.dst_idx] = src[:, self.src_idx]
            else:
                # fancy indexing, not np.take: take copies a non-contiguous source whole first
                item_view(dst, self.item)[:, self.dst_idx] = item_view(src, self.item)[:, self.src_idx]
        if self.const_slices is not None:
            for d0, d1, v in self.const_slices:
                dst[:, d0:d1] = v
        else:
            dst[:, self.const_idx] = self.const_val
