"""The window engine shared by POOL, ALU and DPTWISE: every output channel is computed from the same
channel of the input window (docs/isa.md §5.5-§5.7).

The fast executor's version: the rules are the reference executor's (vairun/emu/blocks.py
(window_block), which quotes docs/isa.md), and the results and faults are the same
(tests/vairun/test_emu_reference.py); this module computes them with plans checked once per distinct
instruction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import blocks
from ..faults import fault
from ..banks import Pixels
from .moves import Mover, Runs, dest_view


@dataclass(slots=True)
class WindowPlan:
    """Where a window instruction reads and writes, checked once."""

    gi_in: int
    in_idx: np.ndarray     # flat global lines, [R*L, kh*kw, G]
    rows: int
    length: int
    taps: int
    groups: int
    channel_offset: int
    out: Pixels
    direct: tuple | None   # the output pixels as one strided view of their group (moves.py), or None


def plan_windows(m, init, op, *, rows: int, kernel: tuple[int, int], stride: tuple[int, int],
                 jump_read: int, jump_write: int, channel_offset: int, pad_min: bool) -> WindowPlan:
    """Check the block of a window instruction and precompute its gather and scatter indices."""
    blocks.check_rows(rows, m.target.pp)
    groups, length = op["channel_group"], op["length"]
    gi, idx = blocks.input_windows(m, init, op, rows=rows, length=length, kernel=kernel, stride=stride,
                                   groups=groups, jump=jump_read, pad_min=pad_min)
    width = m.banks.groups[gi].width
    blocks.check_mask(channel_offset, width)
    gi_out, starts = blocks.output_rows(m, init, op, rows=rows, length=length, jump=jump_write,
                                        lines_per_pixel=groups)
    if m.banks.groups[gi_out].width != width:
        raise fault(f"input lines hold {width} channels but output lines hold "
                           f"{m.banks.groups[gi_out].width}", bank=op["bank_id_out"])
    out = Pixels(m.banks, gi_out, starts, groups * width).check_distinct(m.banks, "output")
    return WindowPlan(gi, idx.ravel(), rows, length, kernel[0] * kernel[1], groups, channel_offset, out,
                      direct_target(out))


def direct_target(out: Pixels) -> tuple | None:
    """Where a block result (C-ordered ``[pixels, nbytes]``) can be written straight into the bank:
    ``(group, view spec)`` when the pixels form one progression (moves.py), else None."""
    npix, nbytes = out.starts.size, out.nbytes
    runs = Runs.of(out.starts.ravel() * out.width, np.arange(npix, dtype=np.int64) * nbytes, nbytes)
    where = Mover(runs).whole_source(npix * nbytes)
    return None if where is None else (out.gi, where)


def output_view(m, p: WindowPlan) -> np.ndarray | None:
    """The block's output pixels as a uint8 view of the bank (C-ordered like the block result), to be
    filled now, or None when they do not form one progression (then :func:`write_block`)."""
    if p.direct is None:
        return None
    gi, where = p.direct
    m.banks.version[gi] += 1
    return dest_view(m.banks.flat[gi], where).view(np.uint8)


def read_windows(m, p: WindowPlan) -> np.ndarray:
    """The input windows, int8 ``[batch, R*L, kh*kw, G*width]`` (channel tail masked). The array is
    a scratch buffer: valid until the next window instruction."""
    cols = gather(m, p.gi_in, p.in_idx, "win_lines")
    b, width = cols.shape[0], cols.shape[2]
    cols = cols.reshape(b, p.rows * p.length, p.taps, p.groups, width)
    blocks.mask_tail(cols, p.channel_offset)
    return cols.reshape(b, p.rows * p.length, p.taps, p.groups * width)


def as_float(m, cols: np.ndarray) -> np.ndarray:
    """``cols`` copied to a float32 scratch buffer (exact: int8 values)."""
    out = m.scratch.get("win_f32", cols.shape, np.float32)
    np.copyto(out, cols)
    return out


def write_block(m, p: WindowPlan, out: np.ndarray) -> None:
    """Store ``out`` int8 ``[batch, R*L, G*width]`` at the block's output pixels."""
    p.out.write(m.banks, out.reshape(out.shape[0], p.rows, p.length, -1))


#: Up to this many taps a window reduction loops over the taps (faster than a strided reduce).
LOOP_TAPS = 64


def window_max(cols: np.ndarray, keep_int8: bool = False) -> np.ndarray:
    """Exact window maximum of ``cols`` [B, M, T, C] int8 -> int64 (or int8) [B, M, C]."""
    taps = cols.shape[2]
    if taps > LOOP_TAPS:
        acc = cols.max(axis=2)
    else:
        acc = cols[:, :, 0, :].copy()
        for t in range(1, taps):
            np.maximum(acc, cols[:, :, t, :], out=acc)
    return acc if keep_int8 else acc.astype(np.int64)


def window_sum(m, cols: np.ndarray) -> np.ndarray:
    """Exact window sum of ``cols`` [B, M, T, C] int8 -> int64 [B, M, C] (float32 sums of at most
    65536 int8 values stay below 2**24: exact)."""
    return np.einsum("bmtc->bmc", as_float(m, cols)).astype(np.int64)


def gather(m, gi: int, idx: np.ndarray, name: str) -> np.ndarray:
    """Lines ``idx`` (flat, checked) of group ``gi`` for every image, into the scratch buffer ``name``:
    int8 ``[batch, idx.size, width]``."""
    lines = m.banks.lines[gi]
    out = m.scratch.get(name, (lines.shape[0], idx.size), lines.dtype)
    np.take(lines, idx, axis=1, out=out, mode="clip")
    return out.view(np.int8).reshape(lines.shape[0], idx.size, -1)
