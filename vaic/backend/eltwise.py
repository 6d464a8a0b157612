"""Code for ``eltwise-fix`` ADD / MUL (inputs of one shape): ELEWINIT per input, then ELEW.

Rules (docs/isa.md §5.8):
- ELEWINIT ``input_id`` k configures input k (bank, base, jumps, ``shift_read``); ELEW combines
  inputs 0..n-1 (n <= 16) over R <= PP rows x ``length`` columns x ``channel_group`` groups; each
  input is read with group 1 and uniform sweeps, so every block re-configures its inputs;
- ADD: ``shift_read_k = max(f) - f_k`` (0..15), ``shift_write = min(f) - o``; MUL:
  ``shift_read = 0``, ``shift_write = sum(f) - o``; ``shift_write`` in -64..63;
- activation NONE / RELU / LEAKYRELU / RELU6 (RELU6 as in ``act_code``);
- a MUL of an image by a per-channel vector is a depthwise op instead (scale.py).
"""
from __future__ import annotations

import xir
from xir.isa import ActType, ElewType, activations, field_slot

from . import chanwise
from .context import Ctx, act_code
from .errors import TilingError
from .geometry import image_dims, pointwise
from .program import LayerStats
from .scale import gen_scale, is_scale

ELEW_ACTS = activations("ELEW")
SHIFT_READ = field_slot("ELEWINIT", "shift_read")
SHIFT_WRITE = field_slot("ELEW", "shift_write")
MAX_INPUTS = 16


def gen_eltwise(ctx: Ctx, op: xir.Op) -> None:
    if is_scale(op):
        return gen_scale(ctx, op)
    name = op.get_name()
    b = ctx.banks
    ctx.check_round(op)
    kind = op.get_attr("type")
    xs = op.get_input_tensors("input")
    if len(xs) > MAX_INPUTS:
        raise TilingError(name, f"{len(xs)} inputs exceed the {MAX_INPUTS} ELEWINIT slots")
    y = op.get_output_tensor()
    dims = [image_dims(x) for x in xs]
    if any(d != image_dims(y) for d in dims):
        raise TilingError(name, f"inputs {dims} do not all have the output's shape (the DPU does not broadcast)")
    fps = [ctx.fp(x) for x in xs]
    o = ctx.fp(y)
    if kind == "ADD":
        reads = [max(fps) - f for f in fps]
        sw = min(fps) - o
    else:
        reads = [0] * len(fps)
        sw = sum(fps) - o
    if not (all(SHIFT_READ.accepts(r) for r in reads) and SHIFT_WRITE.accepts(sw)):
        raise TilingError(name, f"shift_read {max(reads)} or shift_write {sw} is outside its field")
    act = ActType[act_code(op, o, ELEW_ACTS)]
    distinct: list[str] = []
    for x in xs:
        if x.name not in distinct:
            distinct.append(x.name)
    slot = [distinct.index(x.name) for x in xs]
    views = [ctx.plan.views[n] for n in distinct]
    win = pointwise(*image_dims(y))

    def emit_block(s: chanwise.Step) -> None:
        blk = s.blk
        for k, x in enumerate(xs):
            lay = s.ins[slot[k]]
            bank, line = lay.place(blk.r0)
            ctx.em.init("ELEWINIT", input_id=k, bank_id=bank, bank_addr=line, jump_read=s.G,
                        jump_read_endl=lay.endl, shift_read=reads[k])
        bank_out, line_out = s.out.write(blk.k0)
        ctx.em.emit("ELEW", elew_type=ElewType[kind], act_type=act, shift_write=sw, num_inputs=len(xs),
                    valid_pixel_parallel=blk.R, length=s.m, channel_group=s.G, bank_id_out=bank_out,
                    bank_addr_out=line_out, jump_write=s.G, jump_write_endl=s.out.endl)

    ctx.em.layer = name
    sp, G = chanwise.run(ctx, name, win, views, ctx.plan.views[y.name], 1, emit_block)
    h, w, c = image_dims(y)
    rnd = lambda v, q: -(-v // q) * q  # noqa: E731
    ctx.stats.append(LayerStats(name, "eltwise", h * w * c * (len(xs) - 1),
                                rnd(h, b.pp) * w * rnd(c, b.icp) * (len(xs) - 1), 0))
    ctx.log.append(f"{name}: eltwise {kind} of {len(xs)} {h}x{w}x{c}: {len(sp.rows)}x{len(sp.cols)} tiles, "
                   f"{G} group(s) per chunk")
