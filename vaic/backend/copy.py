"""Copies between DDR buffers (LOAD rows into a bank tile, SAVE them to the destination).

Rule: used where an in-place placement is impossible (ddrplan.Copy): a concat input produced
outside the subgraph, aliased, repeated or also a subgraph output is copied into its channel slice;
a reshape of a non-dense tensor (a concat slice) and a channel slice that is a subgraph output are
first copied into a dense buffer. Values are
unchanged (same fix position); tiles follow the channel-wise rules of ``chanwise``.
"""
from __future__ import annotations

from . import chanwise
from .context import Ctx
from .ddrplan import Copy
from .geometry import pointwise


def gen_copy(ctx: Ctx, cp: Copy) -> None:
    src = cp.source(ctx.plan.views)
    ctx.em.layer = cp.op
    win = pointwise(src.h, src.w, src.c)
    sp, G = chanwise.run(ctx, cp.op, win, [src], cp.dst, 1, None)
    ctx.log.append(f"{cp.op}: copy {cp.src} ({src.h}x{src.w}x{src.c}) in {len(sp.rows)}x{len(sp.cols)} tiles")
