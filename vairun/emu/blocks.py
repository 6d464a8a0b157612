"""Geometry of the blocks compute instructions read and write (docs/isa.md §4.3, §4.4).

Rules enforced here:

* A block has R = ``valid_pixel_parallel`` rows, 1 .. PP (more is a fault).
* Its input block spans ``(R - 1) * stride_h + kernel_h`` rows and ``(length - 1) * stride_w +
  kernel_w`` columns; the first ``pad_top``/last ``pad_bottom`` rows and the first
  ``pad_left``/last ``pad_right`` columns are virtual padding (never read). Pads larger than the
  block are a fault.
* Tile rows are placed by the read rule (``xir.isa.input_row_slots``); a row needing a fifth sweep
  is a fault, and so is a row outside the image banks or a line at or beyond a bank's depth.
* Output rows are placed by the write rule (``xir.isa.output_row_slots``), checked the same way.
* A slot position (``stride_offset_in``, ``stride_offset_out``) lies inside its slot: below
  ``stride_h`` / ``stride_out``.
* ``channel_offset`` masks the last channels of the last channel group; it must be smaller than a
  line (masking a whole group means the instruction names one group too many: a fault).

Every read is expressed as one array of global lines per (output row, output column, kernel row,
kernel column, channel group), with the padding positions pointing at sentinel lines (zero, or
-128 for max pooling), so an instruction reads its whole input -- already in im2col form -- with
one fancy index (:func:`read_lines`).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from xir.isa import AddressingError, input_row_slots, output_row_slots

from .banks import Pixels
from .faults import fault


def check_rows(rows: int, pp: int) -> None:
    """Fault unless 1 <= rows <= PP."""
    if not 1 <= rows <= pp:
        raise fault(f"valid_pixel_parallel = {rows} exceeds the target's pixel parallelism PP = {pp}")


def check_mask(channel_offset: int, width: int) -> None:
    """Fault unless ``channel_offset`` stays inside the last channel group."""
    if channel_offset >= width:
        raise fault(f"channel_offset = {channel_offset} masks a whole channel group of {width} channels; "
                    f"use one channel_group fewer and a channel_offset below {width}")


def check_phase(phase: int, group: int, phase_name: str, group_name: str) -> None:
    """Fault unless a slot position lies inside its slot (0 .. group - 1)."""
    if phase >= group:
        raise fault(f"{phase_name} = {phase} is not a position inside a slot of {group_name} = {group} rows "
                    f"(0 .. {group - 1})")


def mask_tail(cols: np.ndarray, channel_offset: int) -> None:
    """Zero the last ``channel_offset`` channels of the last group: ``cols`` [..., G, width]."""
    if channel_offset:
        cols[..., -1, cols.shape[-1] - channel_offset:] = 0


def input_windows(m, init, op, *, rows: int, length: int, kernel: tuple[int, int],
                  stride: tuple[int, int], groups: int, jump: int, pad_min: bool) -> tuple[int, np.ndarray]:
    """Global lines of every window element of a compute block.

    ``kernel``/``stride`` are (h, w). Returns the image group index and an int64 array
    ``[rows, length, kh, kw, groups]``: the line of channel group c of the input pixel under kernel
    position (ky, kx) of output (row, column), or the group's sentinel line where that pixel is
    padding (the MIN line when ``pad_min``, else the ZERO line).
    """
    kh, kw = kernel
    sh, sw = stride
    pt, pb, pl, pr = op["pad_top"], op["pad_bottom"], op["pad_left"], op["pad_right"]
    rows_in = (rows - 1) * sh + kh
    cols_in = (length - 1) * sw + kw
    tile_rows, tile_cols = rows_in - pt - pb, cols_in - pl - pr
    check_phase(init["stride_offset_in"], sh, "stride_offset_in", "stride_h")
    if tile_rows < 0 or tile_cols < 0:
        raise fault(f"padding {pt}+{pb} rows / {pl}+{pr} columns exceeds the input block of "
                    f"{rows_in} x {cols_in}")
    try:
        banks, lines = input_row_slots(init, op, np.arange(tile_rows), pp=m.target.pp)
    except AddressingError as exc:
        raise fault(f"input rows cannot be placed: {exc}", bank=op["bank_id_in"]) from None
    last = (tile_cols - 1) * jump + groups - 1 if tile_cols else -1
    gi, row_base = m.banks.image_rows(op["bank_id_in"], banks, lines, last, "input")
    sentinel = m.banks.min_line(gi) if pad_min else m.banks.zero_line(gi)
    # line of channel group 0 of every block pixel; padding pixels start at the sentinel lines
    block = np.full((rows_in, cols_in), sentinel, dtype=np.int64)
    block[pt:pt + tile_rows, pl:pl + tile_cols] = row_base[:, None] + np.arange(tile_cols, dtype=np.int64) * jump
    # window of output (k, x) starts at block row k * sh, column x * sw: [R, L, kh, kw]
    windows = sliding_window_view(block, (kh, kw))[::sh, ::sw][:rows, :length]
    return gi, windows[..., None] + np.arange(groups, dtype=np.int64)


def output_rows(m, init, op, *, rows: int, length: int, jump: int, lines_per_pixel: int) -> tuple[int, np.ndarray]:
    """Global line of pixel 0 of every output pixel: image group index and int64 ``[rows, length]``."""
    if op.kind != "ELEW":
        check_phase(init["stride_offset_out"], init["stride_out"], "stride_offset_out", "stride_out")
    try:
        banks, lines = output_row_slots(init, op, np.arange(rows), pp=m.target.pp)
    except AddressingError as exc:
        raise fault(f"output rows cannot be placed: {exc}", bank=op["bank_id_out"]) from None
    last = (length - 1) * jump + lines_per_pixel - 1
    gi, row_base = m.banks.image_rows(op["bank_id_out"], banks, lines, last, "output")
    return gi, row_base[:, None] + np.arange(length, dtype=np.int64) * jump


def read_lines(m, gi: int, idx: np.ndarray) -> np.ndarray:
    """The bytes of global lines ``idx`` (checked, any shape) of group ``gi`` for every image: int8
    ``[batch, *idx.shape, width]``."""
    return m.banks.data[gi][:, idx]


def window_block(m, init, op, *, rows: int, kernel: tuple[int, int], stride: tuple[int, int], jump_read: int,
                 jump_write: int, channel_offset: int, pad_min: bool) -> tuple[np.ndarray, Pixels]:
    """The block of a window instruction (POOL, ALU, DPTWISE), docs/isa.md §4.4, §5.5-§5.7: its input
    windows, int8 ``[batch, R*L, kh*kw, G*width]`` (padding 0, or -128 when ``pad_min``; the last
    ``channel_offset`` channels read as 0), and its output pixels (``channel_group`` lines each,
    placed by the write rule, checked never to overlap)."""
    check_rows(rows, m.target.pp)
    groups, length = op["channel_group"], op["length"]
    gi, idx = input_windows(m, init, op, rows=rows, length=length, kernel=kernel, stride=stride,
                            groups=groups, jump=jump_read, pad_min=pad_min)
    width = m.banks.groups[gi].width
    check_mask(channel_offset, width)
    gi_out, starts = output_rows(m, init, op, rows=rows, length=length, jump=jump_write, lines_per_pixel=groups)
    if m.banks.groups[gi_out].width != width:
        raise fault(f"input lines hold {width} channels but output lines hold {m.banks.groups[gi_out].width}",
                    bank=op["bank_id_out"])
    out = Pixels(m.banks, gi_out, starts, groups * width).check_distinct(m.banks, "output")
    x = read_lines(m, gi, idx)                       # [B, R, L, kh, kw, G, width]
    mask_tail(x, channel_offset)
    return x.reshape(m.batch, rows * length, kernel[0] * kernel[1], groups * width), out
