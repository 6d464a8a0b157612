"""Tiling and the load / compute / save loop shared by the channel-wise ops: depthwise conv, pools
(POOL and ALU), element-wise ops and copies.

Rules:
- channels are independent in these ops, so a tile is (channel chunk of G groups) x (n output rows)
  x (m output columns); a chunk holds at most 256 groups (``channel_group``) and 4096 channels
  (a SAVE's ``channel``); inputs are loaded with only the chunk's channels (``channel_offset`` /
  unsaved bytes cover the tail of the last group);
- every input tensor of the op gets its own tile buffer (an eltwise reading one tensor twice loads
  it once); buffers are double-buffered when there is more than one tile;
- loop: chunks outside (per-chunk parameters, e.g. depthwise weights, load once per chunk), tiles
  inside; for each row block the compute instruction(s), then the SAVEs of its rows. A copy has no
  compute instruction: it SAVEs straight from the loaded tile.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .banks import TileLayout
from .context import Ctx
from .ddrplan import View
from .errors import TilingError
from .geometry import Span, Window
from .tiling import Block, Spatial, search

G_MAX = 256
SAVE_CHANNELS = 4096


@dataclass
class Step:
    """Everything a compute emitter needs for one block."""
    blk: Block
    reads: list[dict]            # read fields per input (TileLayout.read)
    ins: list[TileLayout]        # input tile layouts
    out: TileLayout | None       # output tile layout
    span_c: Span                 # input columns of the column tile
    m: int                       # output columns
    G: int                       # channel groups of the chunk
    nch: int                     # real channels of the chunk
    chunk: int                   # chunk index
    params: object               # what load_params returned for the chunk


def run(ctx: Ctx, name: str, win: Window, inputs: list[View], out: View, group: int,
        emit_block: Callable[[Step], None] | None,
        pads: tuple[int, int, int, int] = (15, 15, 15, 15),
        chunk_ok: Callable[[int], bool] = lambda G: True,
        load_params: Callable[[int, int, int], object] = lambda c0, nch, G: None,
        also: tuple[View, ...] = ()) -> tuple[Spatial, int]:
    """Tile and emit one channel-wise op; returns the spatial tiling and the groups per chunk.
    ``emit_block`` None means a copy (inputs[0] saved as is, to ``out`` and to every view of ``also``)."""
    b = ctx.banks
    pp, icp = b.pp, b.icp
    C = win.c
    cg = b.groups_of(C)
    copy = emit_block is None
    for v in inputs + [out] + list(also):
        ctx.check_view(name, v)
    cands = []
    G = min(cg, G_MAX, SAVE_CHANNELS // icp)
    while G >= 1:
        if chunk_ok(G):
            cands.append(G)
        G = G // 2 if G > 1 else 0
    chosen = None
    for G in cands:
        nchunks = -(-cg // G)

        def fits(n, m, tiles, G=G, nchunks=nchunks):
            rin, cin_ = min(win.h, (n - 1) * win.sh + win.kh), min(win.w, (m - 1) * win.sw + win.kw)
            lin = TileLayout.lines_needed(rin, group, cin_ * G, pp)
            lout = -(-n // pp) * m * G
            nbuf = 2 if tiles * nchunks > 1 else 1
            sizes = [lin] * (nbuf * len(inputs)) + ([] if copy else [lout] * nbuf)
            return ctx.allocate(sizes) is not None

        sp = search(win, pp, group, G, fits, pads)
        if sp is not None:
            chosen = (G, sp)
            break
    if chosen is None:
        raise TilingError(name, "no tiling fits the image banks, even one output row and one channel group per tile")
    G, sp = chosen
    chunks = [(c0, min(G, cg - c0)) for c0 in range(0, cg, G)]
    nbuf = 2 if sp.count * len(chunks) > 1 else 1
    lin = TileLayout.lines_needed(sp.in_rows, group, sp.in_cols * G, pp)
    lout = -(-max(n for _, n in sp.rows) // pp) * max(m for _, m in sp.cols) * G
    sizes = [lin] * (nbuf * len(inputs)) + ([] if copy else [lout] * nbuf)
    regions = ctx.allocate(sizes)
    if regions is None:
        raise TilingError(name, "buffers do not fit the image banks")
    in_regions = [regions[i * nbuf:(i + 1) * nbuf] for i in range(len(inputs))]
    out_regions = regions[nbuf * len(inputs):]
    turn = 0
    for ci, (g0, ng) in enumerate(chunks):
        c0 = g0 * icp
        nch = min(C, (g0 + ng) * icp) - c0
        params = load_params(c0, nch, ng)
        for oy0, n in sp.rows:
            span_r = win.rows(oy0, n)
            for ox0, m in sp.cols:
                span_c = sp.spans[ox0]
                layouts = []
                for i, v in enumerate(inputs):
                    lay = TileLayout(in_regions[i][turn % nbuf], pp, group, span_c.count * ng, ng, span_r.count)
                    for r in range(span_r.count):
                        ctx.load_row(lay, r, v, span_r.first + r, span_c.first, span_c.count, c0, nch)
                    layouts.append(lay)
                if copy:
                    for dst in (out,) + tuple(also):
                        for r in range(n):
                            ctx.save_row(layouts[0], r, dst, oy0 + r, ox0, m, c0, nch)
                    turn += 1
                    continue
                olay = TileLayout(out_regions[turn % nbuf], pp, 1, m * ng, ng, n)
                turn += 1
                for blk in sp.blocks[oy0]:
                    reads = []
                    for lay in layouts:
                        rd = lay.read(blk.r0, blk.nrows)
                        if rd is None:
                            raise AssertionError("tiling produced a block beyond four sweeps")
                        reads.append(rd)
                    emit_block(Step(blk, reads, layouts, olay, span_c, m, ng, nch, ci, params))
                    for k in range(blk.k0, blk.k0 + blk.R):
                        ctx.save_row(olay, k, out, oy0 + k, ox0, m, c0, nch)
    return sp, G
