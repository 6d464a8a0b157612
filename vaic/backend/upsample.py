"""Code for ``upsample-fix`` (nearest, integer scales): LOAD / SAVE only.

Rule: output pixel ``(y * sh + dy, x * sw + dx)`` is input pixel ``(y, x)`` for every ``dy < sh``,
``dx < sw``; so each tile of input rows is LOADed once and SAVEd ``sh * sw`` times, each SAVE writing
one output phase ``(dy, dx)``: a view of the output buffer offset by ``dy`` rows and ``dx`` pixels,
with ``sw`` times its pixel stride and ``sh`` times its row stride. Values and fix position are
unchanged (a copy).
"""
from __future__ import annotations

import xir

from . import chanwise
from .context import Ctx
from .ddrplan import View
from .errors import TilingError
from .geometry import image_dims, pointwise
from .program import LayerStats


def phase_views(out: View, h: int, w: int, sh: int, sw: int) -> list[View]:
    """The ``sh * sw`` strided views of ``out`` that an ``h`` x ``w`` input fills (module rule)."""
    return [View(out.buf, out.offset + dy * out.row + dx * out.pix, h, w, out.c, sw * out.pix, sh * out.row)
            for dy in range(sh) for dx in range(sw)]


def gen_upsample(ctx: Ctx, op: xir.Op) -> None:
    name = op.get_name()
    x, y = op.get_input_tensor("input"), op.get_output_tensor()
    if ctx.fp(x) != ctx.fp(y):
        raise TilingError(name, f"upsample changes the fix position ({ctx.fp(x)} -> {ctx.fp(y)})")
    sw, sh = op.get_attr("scale")
    h, w, c = image_dims(x)
    if image_dims(y) != (h * sh, w * sw, c):
        raise TilingError(name, f"output {image_dims(y)} is not the input {(h, w, c)} scaled by {(sh, sw)}")
    views = phase_views(ctx.plan.views[y.name], h, w, sh, sw)
    ctx.em.layer = name
    sp, G = chanwise.run(ctx, name, pointwise(h, w, c), [ctx.plan.views[x.name]], views[0], 1, None,
                         also=tuple(views[1:]))
    ctx.stats.append(LayerStats(name, "upsample"))
    ctx.log.append(f"{name}: upsample x{sh}x{sw} of {h}x{w}x{c}: {len(sp.rows)}x{len(sp.cols)} tiles, "
                   f"{sh * sw} SAVE phase(s)")
