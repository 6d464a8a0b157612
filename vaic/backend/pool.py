"""Code for ``pool-fix`` MAX / AVG: POOLINIT / POOL, or ALUINIT / ALU for windows the pool engine
cannot take.

Rules (docs/isa.md §5.5-5.6):
- POOL: kernel and stride 1..8, ``shift_cut`` 0..15, R (``valid_pixel_parallel``) in POOLINIT;
  ALU: kernel and stride 1..256, ``shift_cut`` 0..63, padding top/left 0..15, bottom/right 0..255;
  the ALU is used when the target has one and the POOL engine cannot express the op;
- MAX: window maximum (padding reads -128, never larger than a stored value), ``shift_cut = i - o``
  (0 when the fix positions are equal, as the quantizer guarantees);
- AVG: window sum (padding 0) times ``multi_factor`` over ``2^shift_cut`` with
  ``(factor, shift) = avgpool_factor_shift(kh, kw)`` and ``shift_cut = shift + i - o``: the
  count_include_pad divisor of the reference kernel, including at borders;
- a pool with one output row (a global pool) uses its stride field to group the input rows so that
  one instruction reads them all (``single_row_group``).
"""
from __future__ import annotations

from dataclasses import replace

import xir
from xir.fixpoint import avgpool_factor_shift
from xir.isa import AluType, PoolType, field_slot

from . import chanwise
from .alu import ALU_PADS, emit_alu
from .banks import MAX_SWEEPS
from .context import Ctx
from .errors import TilingError
from .geometry import window_of
from .program import LayerStats

POOL_KERNEL_MAX = 8
POOL_SHIFT_MAX = field_slot("POOLINIT", "shift_cut").hi
ALU_SHIFT_MAX = field_slot("ALUINIT", "shift_cut").hi


def single_row_group(kh: int, pp: int) -> int:
    """Rule: a pool with one output row never strides, so its stride field only sets how the input
    rows are grouped in the banks (row r in lane r // g): the smallest group whose ``kh`` rows one
    instruction reads in at most MAX_SWEEPS sweeps of PP lanes (a 56-row global pool on PP 8: 2)."""
    return (kh - 1) // (MAX_SWEEPS * pp) + 1


def gen_pool(ctx: Ctx, op: xir.Op) -> None:
    name = op.get_name()
    b = ctx.banks
    t = ctx.t
    ctx.check_round(op)
    if op.get_attr_or_default("nonlinear") != "NONE":
        raise TilingError(name, "the pool engine applies no activation")
    kind = op.get_attr("type")
    win = window_of(op)
    if win.ho == 1:
        win = replace(win, sh=single_row_group(win.kh, b.pp))
    i = ctx.fp(op.get_input_tensor("input"))
    o = ctx.fp(op.get_output_tensor())
    if kind == "AVG":
        if not op.get_attr_or_default("count_include_pad") and (win.pt or win.pb or win.pl or win.pr):
            raise TilingError(name, "average pooling that excludes padding has no DPU form")
        factor, shift = avgpool_factor_shift(win.kh, win.kw)
        sc = shift + i - o
    else:
        factor, sc = 0, i - o
    pool_ok = (kind in t.limits.pool_types and max(win.kh, win.kw) <= min(POOL_KERNEL_MAX, t.limits.pool_kernel_max)
               and max(win.sh, win.sw) <= min(POOL_KERNEL_MAX, t.limits.pool_stride_max) and 0 <= sc <= POOL_SHIFT_MAX)
    alu_ok = (t.limits.alu and max(win.kh, win.kw) <= t.limits.alu_kernel_max
              and max(win.sh, win.sw) <= t.limits.alu_stride_max and 0 <= sc <= ALU_SHIFT_MAX)
    if not (pool_ok or alu_ok):
        raise TilingError(name, f"{kind} pool {win.kw}x{win.kh}/{win.sw}x{win.sh} with shift {sc} fits neither "
                                "the pool engine nor an ALU of this target")
    x = op.get_input_tensor("input")
    iv, ov = ctx.plan.views[x.name], ctx.plan.views[op.get_output_tensor().name]

    def emit_pool(s: chanwise.Step) -> None:
        rd, lay, blk = s.reads[0], s.ins[0], s.blk
        ctx.em.init("POOLINIT", pool_type=PoolType[kind], kernel_h=win.kh, kernel_w=win.kw, stride_h=win.sh,
                    stride_w=win.sw, shift_cut=sc, valid_pixel_parallel=blk.R, stride_offset_in=rd["phase"],
                    jump_read=s.G, jump_write=s.G, stride_out=1, stride_offset_out=0)
        bank_out, line_out = s.out.write(blk.k0)
        bases = rd["bases"]
        ctx.em.emit("POOL", bank_id_in=rd["bank_id_in"], bank_addr_in=bases[0], bank_addr_in_1=bases[1],
                    bank_addr_in_2=bases[2], bank_addr_in_3=bases[3], pad_top=blk.pad_top,
                    pad_bottom=blk.pad_bottom, pad_left=s.span_c.pad_before, pad_right=s.span_c.pad_after,
                    channel_group=s.G, jump_read_endl=lay.endl if win.sh > 1 else 0,
                    jump_write_endl=s.out.endl, length=s.m, bank_id_out=bank_out, bank_addr_out=line_out,
                    multi_factor=factor)

    alu_init = dict(alu_type=AluType.MAXPOOL if kind == "MAX" else AluType.AVGPOOL, shift_cut=sc,
                    multi_factor=factor, act_type=0)

    def emit_pool_alu(s: chanwise.Step) -> None:
        emit_alu(ctx, s, win, alu_init, channel_offset=0)

    ctx.em.layer = name
    sp = None
    engine = "POOL"
    if pool_ok:
        try:
            sp, G = chanwise.run(ctx, name, win, [iv], ov, win.sh, emit_pool)
        except TilingError:
            if not alu_ok:
                raise
    if sp is None:
        engine = "ALU"
        sp, G = chanwise.run(ctx, name, win, [iv], ov, win.sh, emit_pool_alu, pads=ALU_PADS)
    ho, wo, c = win.ho, win.wo, win.c
    rnd = lambda v, q: -(-v // q) * q  # noqa: E731
    work = ho * wo * c * win.kh * win.kw
    arch = rnd(ho, b.pp) * wo * rnd(c, b.icp) * win.kh * win.kw
    ctx.stats.append(LayerStats(name, "pool", work, arch, 0))
    ctx.log.append(f"{name}: {kind} pool {win.kh}x{win.kw}/{win.sh} on {engine} {win.h}x{win.w}x{c}: "
                   f"{len(sp.rows)}x{len(sp.cols)} tiles, {G} group(s) per chunk")
