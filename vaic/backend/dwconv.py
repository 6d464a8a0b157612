"""Code for ``depthwise-conv2d-fix`` (channel multiplier 1) and ``hard-sigmoid-fix``: DWINIT / DPTWISE,
or ALUINIT / ALU DWCONV when the activation is one only ALUINIT holds.

Rules (docs/isa.md §4.5, §5.6, §5.7):
- one DPTWISE (or ALU) computes R <= PP output rows x ``length`` columns x ``channel_group`` groups,
  output channel = input channel convolved with its own kernel;
- the weights of a chunk of G groups are a byte array in the first depthwise bank:
  byte ``k * G * ICP + ch`` for kernel position k (``params.dw_weight_chunk``); the chunk's biases
  are G*ICP bytes in the bias bank; both are loaded once per chunk into alternating halves, and
  DPTWISE and ALU DWCONV read them alike;
- DPTWISE: ``shift_cut = i + w - o`` (0..63), ``shift_bias = i + w - b`` (-32..31); activation
  NONE / RELU / LEAKYRELU / RELU6; no bias means zero biases;
- ALU DWCONV for HSIGMOID / HSWISH (``xir.target.placement.ALU_DW_ACTS``, when the target's ALU lists
  them): ``shift_cut = 0``, ``hsigmoid_in = i + w`` (the accumulator's fix position),
  ``hsigmoid_out = o``, ``shift_bias`` as above; the activation sees the exact accumulator and the
  result is rounded once, as the graph's op does (vaic/passes/support.py keeps ops whose positions
  the fields cannot hold on the CPU);
- ``hard-sigmoid-fix`` is the 1x1 identity depthwise conv (weight 1 at fix position 0, no bias)
  with HSIGMOID.
"""
from __future__ import annotations

import numpy as np

import xir
from xir.isa import ActType, AluType
from xir.target.placement import ALU_DW_ACTS, alu_applies, alu_hsigmoid_fields

from . import chanwise
from .alu import ALU_PADS, emit_alu
from .context import Ctx, act_code
from .conv import CONV_ACTS, checked_shifts, tail_mask
from .errors import TilingError
from .geometry import image_dims, pointwise, window_of
from .params import dw_bias_chunk, dw_weight_chunk
from .program import LayerStats


def gen_dwconv(ctx: Ctx, op: xir.Op) -> None:
    """A depthwise-conv2d-fix with its weights, bias and fused activation."""
    w = op.get_input_op("weights").get_const_data()
    if w.shape[0] != 1:
        raise TilingError(op.get_name(), f"channel multiplier {w.shape[0]} (DPTWISE computes multiplier 1)")
    if max(op.get_attr_or_default("dilation")) != 1:
        raise TilingError(op.get_name(), "dilated depthwise convolution has no DPTWISE form")
    has_bias = op.get_input_num("bias") > 0
    bias = op.get_input_op("bias").get_const_data() if has_bias else None
    b_fp = ctx.fp(op.get_input_tensor("bias")) if has_bias else None
    _depthwise(ctx, op, window_of(op), w, ctx.fp(op.get_input_tensor("weights")), bias, b_fp,
               op.get_attr_or_default("nonlinear"))


def gen_hsigmoid(ctx: Ctx, op: xir.Op) -> None:
    """A hard-sigmoid-fix: the identity depthwise conv with HSIGMOID."""
    h, wd, c = image_dims(op.get_input_tensor("input"))
    _depthwise(ctx, op, pointwise(h, wd, c), np.ones((1, 1, 1, c), np.int8), 0, None, None, "HSIGMOID")


def _alu_init(ctx: Ctx, name: str, act: str, i: int, w_fp: int, o: int, sb: int) -> dict:
    """The ALUINIT arithmetic of an ALU DWCONV with HSIGMOID / HSWISH (module rule)."""
    if not alu_applies(act, ctx.t):
        raise TilingError(name, f"the target's ALU does not list {act}")
    fields, bad = alu_hsigmoid_fields(act, i + w_fp, o, ctx.t.isa)
    if bad:
        raise TilingError(name, bad.sentence)
    return dict(alu_type=AluType.DWCONV, act_type=ActType[act], shift_cut=0, shift_bias=sb, multi_factor=0,
                **fields)


def _depthwise(ctx: Ctx, op: xir.Op, win, w: np.ndarray, w_fp: int, bias: np.ndarray | None,
               b_fp: int | None, nonlinear: str) -> None:
    name = op.get_name()
    b = ctx.banks
    if b.dw_bank is None:
        raise TilingError(name, "the target has no depthwise weights bank")
    ctx.check_round(op)
    _, kh, kw, c = w.shape
    i, o = ctx.fp(op.get_input_tensor("input")), ctx.fp(op.get_output_tensor())
    on_alu = nonlinear in ALU_DW_ACTS
    sc, sb = checked_shifts(name, 0 if on_alu else i + w_fp - o, 0 if b_fp is None else i + w_fp - b_fp)
    alu_init = _alu_init(ctx, name, nonlinear, i, w_fp, o, sb) if on_alu else None
    act = None if on_alu else ActType[act_code(op, o, CONV_ACTS)]
    icp = b.icp
    iv, ov = ctx.plan.views[op.get_input_tensor("input").name], ctx.plan.views[op.get_output_tensor().name]
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

    def emit_dptwise(s: chanwise.Step) -> None:
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

    def emit_dwconv_alu(s: chanwise.Step) -> None:
        wline, bline = s.params
        emit_alu(ctx, s, win, alu_init, channel_offset=tail_mask(s.G * icp - s.nch), bank_addr_weights=wline,
                 bank_addr_bias=bline)

    ctx.em.layer = name
    if on_alu:
        sp, G = chanwise.run(ctx, name, win, [iv], ov, win.sh, emit_dwconv_alu, pads=ALU_PADS,
                             chunk_ok=chunk_ok, load_params=load_params)
    else:
        sp, G = chanwise.run(ctx, name, win, [iv], ov, win.sh, emit_dptwise, chunk_ok=chunk_ok,
                             load_params=load_params)
    ho, wo = win.ho, win.wo
    rnd = lambda v, q: -(-v // q) * q  # noqa: E731
    work = 2 * ho * wo * c * kh * kw + ho * wo * c
    arch = 2 * rnd(ho, b.pp) * wo * rnd(c, icp) * kh * kw + rnd(ho, b.pp) * wo * rnd(c, icp)
    ctx.stats.append(LayerStats(name, "depthwise", work, arch, params[0]))
    where = f" on ALU with {nonlinear}" if on_alu else ""
    ctx.log.append(f"{name}: depthwise {kh}x{kw}/{win.sh}{where} {c} ch {win.h}x{win.w}: "
                   f"{len(sp.rows)}x{len(sp.cols)} tiles, {G} group(s) per chunk")
