"""Split a layer's output into tiles whose working set fits the banks.

Rules:
- A tile is ``n`` output rows by ``m`` output columns (and, for channel-wise ops, a chunk of channel
  groups). Its input tile is the stored part of the input block those outputs read (kernel halo
  included, padding virtual), placed by ``TileLayout`` from lane 0.
- Instruction limits bound a tile: CONV/POOL/ALU/DPTWISE/ELEW ``length`` <= 1024 output columns; a
  LOAD moves <= 1024 pixels (input columns); rows of one bank slot (stride_h > 1) are at most 1023
  lines apart (``jump_read_endl``); padding fields hold 0..15 (ALU bottom/right 0..255).
- Each compute instruction covers R <= PP output rows that start at a lane-block boundary or finish
  one (so its output stays in one sweep), and reads its input rows from at most four sweeps;
  R shrinks where the kernel is tall.
- Buffers are double-buffered when a layer has more than one tile (the next tile loads while the
  current one computes) and single-buffered otherwise; a tiling fits when all its buffers can be
  placed in the image lane blocks.
- Preference: the fewest column tiles (full rows), then the most rows per tile.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .banks import JUMP_MAX
from .geometry import Span, Window

LENGTH_MAX = 1024
PAD_MAX = 15


@dataclass(frozen=True)
class Block:
    """One compute instruction's rows: output rows k0..k0+R-1 of the tile, reading stored tile rows
    r0..r0+nrows-1 with virtual padding pad_top/pad_bottom."""
    k0: int
    R: int
    r0: int
    nrows: int
    pad_top: int
    pad_bottom: int


def grid(total: int, size: int) -> list[tuple[int, int]]:
    """Split ``total`` into runs of ``size`` (the last one shorter): (start, count)."""
    return [(s, min(size, total - s)) for s in range(0, total, size)]


def even_grid(total: int, parts: int) -> list[tuple[int, int]]:
    """Split ``total`` into ``parts`` runs whose sizes differ by at most one."""
    size = -(-total // parts)
    return grid(total, size)


def row_blocks(win: Window, oy0: int, n: int, pp: int, group: int,
               pad_top_max: int = PAD_MAX, pad_bottom_max: int = PAD_MAX) -> list[Block] | None:
    """Blocks of a row tile (module rules), or None if some row cannot be computed."""
    tile = win.rows(oy0, n)
    ty0 = tile.first
    out = []
    k = 0
    while k < n:
        rmax = min(pp - k % pp, n - k)
        for R in range(rmax, 0, -1):
            sp = win.rows(oy0 + k, R)
            if sp.count <= 0 or sp.pad_before > pad_top_max or sp.pad_after > pad_bottom_max:
                continue
            r0 = sp.first - ty0
            g = group
            first_lane = (r0 // g) % pp
            sweeps = (first_lane + (r0 % g + sp.count - 1) // g) // pp + 1
            if sweeps <= 4:
                out.append(Block(k, R, r0, sp.count, sp.pad_before, sp.pad_after))
                k += R
                break
        else:
            return None
    return out


def col_span(win: Window, ox0: int, m: int, left_max: int = PAD_MAX, right_max: int = PAD_MAX) -> Span | None:
    sp = win.cols(ox0, m)
    if sp.count <= 0 or sp.pad_before > left_max or sp.pad_after > right_max:
        return None
    return sp


@dataclass(frozen=True)
class Spatial:
    """A spatial tiling: row tiles and column tiles of the output, with their blocks and spans."""
    rows: list[tuple[int, int]]
    cols: list[tuple[int, int]]
    blocks: dict[int, list[Block]]      # row tile start -> blocks
    spans: dict[int, Span]              # column tile start -> input column span
    in_rows: int                        # most stored input rows of a row tile
    in_cols: int                        # most stored input columns of a column tile

    @property
    def count(self) -> int:
        return len(self.rows) * len(self.cols)


def max_in(win: Window, n: int, m: int) -> tuple[int, int]:
    """Upper bound of stored input rows and columns of an n x m output tile."""
    return min(win.h, (n - 1) * win.sh + win.kh), min(win.w, (m - 1) * win.sw + win.kw)


def make_spatial(win: Window, n: int, m: int, pp: int, group: int, pads: tuple[int, int, int, int]) -> Spatial | None:
    """The tiling of ``n``-row, ``m``-column tiles, or None if some instruction cannot be formed."""
    rows = grid(win.ho, n)
    cols = grid(win.wo, m)
    blocks = {}
    in_rows = 0
    for oy0, cnt in rows:
        b = row_blocks(win, oy0, cnt, pp, group, pads[2], pads[3])
        if b is None:
            return None
        blocks[oy0] = b
        in_rows = max(in_rows, win.rows(oy0, cnt).count)
    spans = {}
    in_cols = 0
    for ox0, cnt in cols:
        sp = col_span(win, ox0, cnt, pads[0], pads[1])
        if sp is None or sp.count > LENGTH_MAX:
            return None
        spans[ox0] = sp
        in_cols = max(in_cols, sp.count)
    return Spatial(rows, cols, blocks, spans, in_rows, in_cols)


def search(win: Window, pp: int, group: int, in_pixel_lines: int,
           fits: Callable[[int, int, int], bool],
           pads: tuple[int, int, int, int] = (PAD_MAX, PAD_MAX, PAD_MAX, PAD_MAX)) -> Spatial | None:
    """The preferred spatial tiling for which ``fits(n, m, tiles)`` holds (module rules), or None.

    ``fits`` gets the rows and columns per tile and the number of tiles and answers whether the
    buffers fit; the instruction limits are checked here."""
    m_cap = min(win.wo, LENGTH_MAX, (LENGTH_MAX - win.kw) // win.sw + 1)
    best = None
    parts = max(1, -(-win.wo // max(m_cap, 1)))
    while parts <= win.wo:
        m = -(-win.wo // parts)
        _, in_cols = max_in(win, 1, m)
        if group > 1 and win.h > 1 and in_cols * in_pixel_lines > JUMP_MAX:
            parts += 1
            continue

        def ok(n: int) -> bool:
            tiles = -(-win.ho // n) * -(-win.wo // m)
            return fits(n, m, tiles)

        lo, hi = 0, win.ho - 1
        if ok(win.ho):                      # one row tile (may fit single-buffered only)
            lo = hi = win.ho
        while lo < hi:                      # largest n with ok(n)
            mid = (lo + hi + 1) // 2
            if ok(mid):
                lo = mid
            else:
                hi = mid - 1
        n = lo
        while n >= 1:
            sp = make_spatial(win, n, m, pp, group, pads)
            if sp is not None and not (group > 1 and sp.in_rows > 1 and sp.in_cols * in_pixel_lines > JUMP_MAX):
                break
            n -= 1
        if n >= 1:
            if n >= min(win.ho, pp):
                return sp
            if best is None or n * m > best[0]:
                best = (n * m, sp)
        if m == 1:
            break
        parts += 1
    return best[1] if best else None
