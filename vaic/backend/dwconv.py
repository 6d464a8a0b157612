"""Code for ``depthwise-conv2d-fix`` (channel multiplier 1): DWINIT / DPTWISE.

Rules (docs/isa.md §4.5, §5.7):
- one DPTWISE computes R <= PP output rows x ``length`` columns x ``channel_group`` groups, output
  channel = input channel convolved with its own kernel;
- the weights of a chunk of G groups are a byte array in the first depthwise bank:
  byte ``k * G * ICP + ch`` for kernel position k (``params.dw_weight_chunk``); the chunk's biases
  are G*ICP bytes in the bias bank; both are loaded once per chunk into alternating halves;
- ``shift_cut = i + w - o`` (0..63), ``shift_bias = i + w - b`` (-32..31); activation NONE / RELU /
  LEAKYRELU / RELU6; no bias means zero biases.
"""
from __future__ import annotations

import xir
from xir.isa import ActType

from . import chanwise
from .context import Ctx, act_code
from .conv import CONV_ACTS, shifts, tail_mask
from .errors import TilingError
from .geometry import window_of
from .params import dw_bias_chunk, dw_weight_chunk
from .program import LayerStats


def gen_dwconv(ctx: Ctx, op: xir.Op) -> None:
    name = op.get_name()
    b = ctx.banks
    if b.dw_bank is None:
        raise TilingError(name, "the target has no depthwise weights bank")
    ctx.check_round(op)
    win = window_of(op)
    w = op.get_input_op("weights").get_const_data()
    if w.shape[0] != 1:
        raise TilingError(name, f"channel multiplier {w.shape[0]} (DPTWISE computes multiplier 1)")
    if max(op.get_attr_or_default("dilation")) != 1:
        raise TilingError(name, "dilated depthwise convolution has no DPTWISE form")
    bias = op.get_input_op("bias").get_const_data() if op.get_input_num("bias") else None
    _, kh, kw, c = w.shape
    sc, sb = shifts(ctx, op)
    y = op.get_output_tensor()
    act = ActType[act_code(op, ctx.fp(y), CONV_ACTS)]
    icp = b.icp
    x = op.get_input_tensor("input")
    iv, ov = ctx.plan.views[x.name], ctx.plan.views[y.name]
    params = [0]

    def wlines(G):
        return -(-(kh * kw * G * icp) // b.dw_width)

    def blines(G):
        return -(-(G * icp) // b.bias_width)

    def chunk_ok(G):
        return wlines(G) <= b.dw_depth and blines(G) <= b.bias_depth

    def load_params(c0, nch, G):
        wb = dw_weight_chunk(w, c0, nch, icp, b.dw_width)
        bb = dw_bias_chunk(bias, c0, nch, icp, b.bias_width)
        woff, boff = ctx.const.add(wb), ctx.const.add(bb)
        params[0] += len(wb) + len(bb)
        wl, bl = wlines(G), blines(G)
        wline, bline = ctx.dw.take(wl), ctx.bias.take(bl)
        ctx.load_lines(b.dw_bank, wline, woff, wl, b.dw_width)
        ctx.load_lines(b.bias_bank, bline, boff, bl, b.bias_width)
        return wline, bline

    def emit_block(s: chanwise.Step) -> None:
        rd, lay, blk = s.reads[0], s.ins[0], s.blk
        ctx.em.init("DWINIT", act_type=act, shift_cut=sc, shift_bias=sb, kernel_h=kh, kernel_w=kw,
                    stride_h=win.sh, stride_w=win.sw, jump_read=s.G,
                    jump_read_endl=lay.endl if win.sh > 1 else 0, jump_write=s.G,
                    jump_write_endl=s.out.endl, stride_offset_in=rd["phase"], stride_out=1, stride_offset_out=0)
        bank_out, line_out = s.out.write(blk.k0)
        bases = rd["bases"]
        wline, bline = s.params
        ctx.em.emit("DPTWISE", bank_id_in=rd["bank_id_in"], bank_addr_in=bases[0], bank_addr_in_1=bases[1],
                    bank_addr_in_2=bases[2], bank_addr_in_3=bases[3], pad_top=blk.pad_top,
                    pad_bottom=blk.pad_bottom, pad_left=s.span_c.pad_before, pad_right=s.span_c.pad_after,
                    valid_pixel_parallel=blk.R, channel_group=s.G, channel_offset=tail_mask(s.G * icp - s.nch),
                    bank_addr_weights=wline, bank_addr_bias=bline, length=s.m,
                    bank_id_out=bank_out, bank_addr_out=line_out)

    ctx.em.layer = name
    sp, G = chanwise.run(ctx, name, win, [iv], ov, win.sh, emit_block, chunk_ok=chunk_ok, load_params=load_params)
    ho, wo = win.ho, win.wo
    rnd = lambda v, q: -(-v // q) * q  # noqa: E731
    work = 2 * ho * wo * c * kh * kw + ho * wo * c
    arch = 2 * rnd(ho, b.pp) * wo * rnd(c, icp) * kh * kw + rnd(ho, b.pp) * wo * rnd(c, icp)
    ctx.stats.append(LayerStats(name, "depthwise", work, arch, params[0]))
    ctx.log.append(f"{name}: depthwise {kh}x{kw}/{win.sh} {c} ch {win.h}x{win.w}: "
                   f"{len(sp.rows)}x{len(sp.cols)} tiles, {G} group(s) per chunk")
