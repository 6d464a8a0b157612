"""Code for an ``eltwise-fix`` MUL of an image by a per-channel vector (a squeeze-excite gate,
``xir.target.placement.is_channel_scale``): a 1x1 DPTWISE whose weights are the vector.

Rules (docs/isa.md §5.7):
- for each chunk of G channel groups the vector's channels are LOADed straight from its DDR view into
  the first depthwise-weights bank (one pixel of ``nch`` bytes: byte ``ch`` is the weight of channel
  ``ch`` of a 1x1 kernel), per image, since the vector is data; the chunk's biases are zero lines
  from CONST;
- DWINIT ``shift_cut = i + v - o`` (the eltwise MUL's ``sum(fix) - o``), ``shift_bias`` 0, so
  ``round(x * v / 2^shift_cut)`` is the product the element-wise MUL rounds once;
- activation NONE / RELU / LEAKYRELU / RELU6 (RELU6 as in ``act_code``).
"""
from __future__ import annotations

import xir
from xir.isa import ActType

from . import chanwise
from .context import Ctx, act_code
from .conv import CONV_ACTS, checked_shifts, tail_mask
from .errors import TilingError
from .geometry import image_dims, pointwise
from .params import dw_bias_chunk
from .program import LayerStats


def is_scale(op: xir.Op) -> bool:
    """An eltwise-fix MUL of two inputs whose second or first is a [n, 1, 1, c] vector of the other."""
    if op.get_attr("type") != "MUL" or op.get_input_num("input") != 2:
        return False
    a, b = (list(t.dims) for t in op.get_input_tensors("input"))
    return a != b and len(a) == len(b) == 4 and (a[1:3] == [1, 1] or b[1:3] == [1, 1])


def gen_scale(ctx: Ctx, op: xir.Op) -> None:
    name = op.get_name()
    b = ctx.banks
    if b.dw_bank is None:
        raise TilingError(name, "the target has no depthwise weights bank")
    ctx.check_round(op)
    xa, xb = op.get_input_tensors("input")
    img, vec = (xa, xb) if list(xb.dims[1:3]) == [1, 1] else (xb, xa)
    h, w, c = image_dims(img)
    if image_dims(vec) != (1, 1, c):
        raise TilingError(name, f"{list(vec.dims)} is not a per-channel vector of the {[h, w, c]} image")
    y = op.get_output_tensor()
    i, v, o = ctx.fp(img), ctx.fp(vec), ctx.fp(y)
    sc, _ = checked_shifts(name, i + v - o, 0)
    act = ActType[act_code(op, o, CONV_ACTS)]
    icp = b.icp
    iv, vv, ov = ctx.plan.views[img.name], ctx.plan.views[vec.name], ctx.plan.views[y.name]
    win = pointwise(h, w, c)

    def wlines(G):
        return -(-(G * icp) // b.dw_width)

    def blines(G):
        return -(-(G * icp) // b.bias_width)

    def chunk_ok(G):
        return wlines(G) <= b.dw_depth and blines(G) <= b.bias_depth

    def load_params(c0, nch, G):
        wline, bline = ctx.dw.take(wlines(G)), ctx.bias.take(blines(G))
        ctx.em.emit("LOAD", bank_id=b.dw_bank, bank_addr=wline, length=1, channel=nch, jump_read=vv.pix,
                    jump_write=wlines(G), reg_id=vv.reg, ddr_addr=vv.at(0, 0, c0))
        boff = ctx.const.add(dw_bias_chunk(None, c0, nch, icp, b.bias_width))
        ctx.load_lines(b.bias_bank, bline, boff, blines(G), b.bias_width)
        return wline, bline

    def emit(s: chanwise.Step) -> None:
        rd, blk = s.reads[0], s.blk
        ctx.em.init("DWINIT", act_type=act, shift_cut=sc, shift_bias=0, kernel_h=1, kernel_w=1, stride_h=1,
                    stride_w=1, jump_read=s.G, jump_read_endl=0, jump_write=s.G, jump_write_endl=s.out.endl,
                    stride_offset_in=rd["phase"], stride_out=1, stride_offset_out=0)
        bank_out, line_out = s.out.write(blk.k0)
        bases = rd["bases"]
        wline, bline = s.params
        ctx.em.emit("DPTWISE", bank_id_in=rd["bank_id_in"], bank_addr_in=bases[0], bank_addr_in_1=bases[1],
                    bank_addr_in_2=bases[2], bank_addr_in_3=bases[3], pad_top=0, pad_bottom=0, pad_left=0,
                    pad_right=0, valid_pixel_parallel=blk.R, channel_group=s.G,
                    channel_offset=tail_mask(s.G * icp - s.nch), bank_addr_weights=wline, bank_addr_bias=bline,
                    length=s.m, bank_id_out=bank_out, bank_addr_out=line_out)

    ctx.em.layer = name
    sp, G = chanwise.run(ctx, name, win, [iv], ov, 1, emit, chunk_ok=chunk_ok, load_params=load_params)
    work = 2 * h * w * c
    rnd = lambda n, q: -(-n // q) * q  # noqa: E731
    ctx.stats.append(LayerStats(name, "depthwise", work, 2 * rnd(h, b.pp) * w * rnd(c, icp), 0))
    ctx.log.append(f"{name}: per-channel scale of {h}x{w}x{c} (depthwise, weights loaded from {vec.name}): "
                   f"{len(sp.rows)}x{len(sp.cols)} tiles, {G} group(s) per chunk")
