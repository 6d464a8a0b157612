"""Code for ``conv2d-fix`` (group 1; dense layers arrive as 1x1 convs): CONVINIT / CONV.

Rules (docs/isa.md §4.4-4.5, §5.4):
- one CONV computes R <= PP output rows x ``length`` columns x OCP output channels (one output
  block), reading every input channel group of its input block (``channel_group`` <= 256, so
  Cin <= 256 * ICP); the tail of the last group meets zero weights (and ``channel_offset`` when the
  field can hold it);
- an output block takes ``ceil(OCP / width)`` lines per pixel; when OCP is not a multiple of the
  line width (DPUCADX8G: 16 of 96) the blocks' bytes are not contiguous and each is saved alone;
- weights of a block take ``kh * kw * ceil(Cin / ICP)`` lines of each of the OCP weights banks;
  blocks are loaded in chunks that fit half the weights area (double-buffered) or, when all of a
  layer's blocks fit, at once; the biases of the layer are loaded once;
- ``shift_cut = i + w - o`` (0..63), ``shift_bias = i + w - b`` (-32..31), activation NONE / RELU /
  LEAKYRELU / RELU6 (RELU6 as in ``act_code``);
- loop order: weight chunks outside, spatial tiles inside (input tiles are reloaded per chunk when
  there is more than one tile; weights never are: with these banks a weight chunk is always larger
  than an input tile); the chunk size is the one with the lowest estimated cycles (``_cost``);
- rows of a tile are computed block after block (all output blocks of R rows, then their SAVEs),
  so SAVE of rows overlaps CONV of the next ones.
"""
from __future__ import annotations

import xir
from xir.isa import ActType, field_slot
from xir.target.placement import CONV_ENGINE_ACTS as CONV_ACTS

from .banks import TileLayout
from .context import Ctx, act_code
from .errors import TilingError
from .geometry import window_of
from .params import conv_bias, conv_weight_chunk
from .program import LayerStats
from .tiling import search

CG_MAX = 256


def shifts(ctx: Ctx, op: xir.Op) -> tuple[int, int]:
    i = ctx.fp(op.get_input_tensor("input"))
    w = ctx.fp(op.get_input_tensor("weights"))
    o = ctx.fp(op.get_output_tensor())
    sb = i + w - ctx.fp(op.get_input_tensor("bias")) if op.get_input_num("bias") else 0
    return checked_shifts(op.get_name(), i + w - o, sb)


SHIFT_CUT = field_slot("CONVINIT", "shift_cut")
SHIFT_BIAS = field_slot("CONVINIT", "shift_bias")


def checked_shifts(name: str, sc: int, sb: int) -> tuple[int, int]:
    """``(shift_cut, shift_bias)`` when the CONVINIT/DWINIT fields hold them, else TilingError."""
    for slot, v in ((SHIFT_CUT, sc), (SHIFT_BIAS, sb)):
        if not slot.accepts(v):
            raise TilingError(name, f"{slot.name} {v} is outside the field's {slot.allowed_text()}")
    return sc, sb


def operands(ctx: Ctx, op: xir.Op, what: str) -> tuple:
    """(input view, output view, weights, bias, shift_cut, shift_bias, activation) of an ungrouped,
    undilated conv-like op whose output rounds as the DPU does."""
    if op.get_attr_or_default("group") != 1 or max(op.get_attr_or_default("dilation")) != 1:
        raise TilingError(op.get_name(), f"grouped or dilated {what} has no CONV form")
    ctx.check_round(op)
    x_t, y_t = op.get_input_tensor("input"), op.get_output_tensor()
    w = op.get_input_op("weights").get_const_data()
    bias = op.get_input_op("bias").get_const_data() if op.get_input_num("bias") else None
    sc, sb = shifts(ctx, op)
    return (ctx.plan.views[x_t.name], ctx.plan.views[y_t.name], w, bias, sc, sb,
            act_code(op, ctx.fp(y_t), CONV_ACTS))


def gen_conv(ctx: Ctx, op: xir.Op) -> None:
    name = op.get_name()
    iv, ov, w, bias, sc, sb, act = operands(ctx, op, "convolution")
    work, arch, params = conv_layer(ctx, name, window_of(op), iv, ov, w, bias, sc, sb, act)
    ctx.stats.append(LayerStats(name, "conv", work, arch, params))


def conv_layer(ctx: Ctx, name: str, win, iv, ov, w, bias, sc: int, sb: int, act: str) -> tuple[int, int, int]:
    """Code for one CONV layer: window ``win`` from view ``iv`` to view ``ov``, weights ``w``
    ``[Cout, kh, kw, Cin]``, biases, shifts and activation; returns (workload, workload on the
    arch, parameter bytes)."""
    b = ctx.banks
    pp, icp, ocp = b.pp, b.icp, b.ocp
    ctx.check_view(name, iv)
    ctx.check_view(name, ov)
    cout, kh, kw, cin = w.shape
    cg = b.groups_of(cin)
    if cg > CG_MAX:
        raise TilingError(name, f"{cin} input channels need {cg} channel groups; a CONV reads at most {CG_MAX}")
    L = kh * kw * cg
    nbt = -(-cout // ocp)
    wa = b.weights_area
    if L > wa:
        raise TilingError(name, f"one output block's weights take {L} lines, more than the {wa} of the weights banks")
    bl = -(-ocp // b.bias_width)
    if nbt * bl > b.bias_depth:
        raise TilingError(name, f"{cout} biases need {nbt * bl} lines of the bias bank ({b.bias_depth})")
    g = win.sh
    w_bytes = nbt * ocp * L * icp
    best = None
    for NB in _chunk_options(nbt, L, wa):
        nch = -(-nbt // NB)
        opl = NB * b.olines

        def fits(n, m, tiles, nch=nch, opl=opl):
            rin, cin_ = min(win.h, (n - 1) * win.sh + win.kh), min(win.w, (m - 1) * win.sw + win.kw)
            lin = TileLayout.lines_needed(rin, g, cin_ * cg, pp)
            lout = -(-n // pp) * m * opl
            nbi = 2 if tiles > 1 else 1
            nbo = 2 if tiles * nch > 1 else 1
            return ctx.allocate([lin] * nbi + [lout] * nbo) is not None

        sp = search(win, pp, g, cg, fits)
        if sp is None:
            continue
        cost = _cost(ctx, win, sp, nbt, nch, cin, w_bytes)
        if best is None or cost < best[0]:
            best = (cost, NB, sp)
    if best is None:
        raise TilingError(name, "no tiling fits the image banks, even one output row per tile")
    _, NB, sp = best
    chunks = [range(s, min(s + NB, nbt)) for s in range(0, nbt, NB)]
    tiles = [(oy0, n, ox0, m) for oy0, n in sp.rows for ox0, m in sp.cols]
    nbi = 2 if len(tiles) > 1 else 1
    nbo = 2 if len(tiles) * len(chunks) > 1 else 1
    opl = NB * b.olines
    lin = TileLayout.lines_needed(sp.in_rows, g, sp.in_cols * cg, pp)
    lout = -(-max(n for _, n in sp.rows) // pp) * max(m for _, m in sp.cols) * opl
    regions = ctx.allocate([lin] * nbi + [lout] * nbo)
    if regions is None:
        raise TilingError(name, "buffers do not fit the image banks")
    in_regions, out_regions = regions[:nbi], regions[nbi:]

    # ---------------------------------------------------------------- parameters
    em = ctx.em
    em.layer = name
    bias_off = ctx.const.add(conv_bias(bias, cout, ocp, b.bias_width))
    bias_line = ctx.bias.take(nbt * bl)
    ctx.load_lines(b.bias_bank, bias_line, bias_off, nbt * bl, b.bias_width)
    chunk_off = []
    params = b.bias_width * nbt * bl
    for c in chunks:
        blob = conv_weight_chunk(w, c, ocp, icp)
        chunk_off.append(ctx.const.add(blob))
        params += len(blob)
    channel_offset = tail_mask(cg * icp - cin)
    # blocks whose OCP bytes do not fill whole lines are not contiguous across lines: save each alone
    per_block_save = ocp % b.image_width != 0
    act_t = ActType[act]

    in_layout = None
    n_in = n_out = 0
    for c, chunk in enumerate(chunks):
        lines = len(chunk) * L
        wline = ctx.weights.take(lines)
        for j in range(ocp):
            ctx.load_lines(b.weights_first + j, wline, chunk_off[c] + j * lines * icp, lines, icp)
        opl_c = len(chunk) * b.olines
        c0 = chunk[0] * ocp
        nsave = min(cout, (chunk[-1] + 1) * ocp) - c0
        for oy0, n, ox0, m in tiles:
            span_c = sp.spans[ox0]
            if in_layout is None or len(tiles) > 1:          # one tile stays loaded for every chunk
                span_r = win.rows(oy0, n)
                in_layout = TileLayout(in_regions[n_in % nbi], pp, g, span_c.count * cg, cg, span_r.count)
                n_in += 1
                for r in range(span_r.count):
                    ctx.load_row(in_layout, r, iv, span_r.first + r, span_c.first, span_c.count, 0, cin)
            out_layout = TileLayout(out_regions[n_out % nbo], pp, 1, m * opl_c, opl_c, n)
            n_out += 1
            for blk in sp.blocks[oy0]:
                rd = in_layout.read(blk.r0, blk.nrows)
                if rd is None:
                    raise AssertionError("tiling produced a block beyond four sweeps")
                em.init("CONVINIT", act_type=act_t, shift_cut=sc, shift_bias=sb, kernel_h=kh, kernel_w=kw,
                        stride_h=win.sh, stride_w=win.sw, jump_read=cg,
                        jump_read_endl=in_layout.endl if g > 1 else 0,
                        jump_write=opl_c, jump_write_endl=out_layout.endl, valid_pixel_parallel=blk.R,
                        stride_offset_in=rd["phase"], stride_out=1, stride_offset_out=0)
                bank_out, line_out = out_layout.write(blk.k0)
                bases = rd["bases"]
                for bi, blk_id in enumerate(chunk):
                    em.emit("CONV", bank_id_in=rd["bank_id_in"], bank_addr_in=bases[0], bank_addr_in_1=bases[1],
                            bank_addr_in_2=bases[2], bank_addr_in_3=bases[3], pad_top=blk.pad_top,
                            pad_bottom=blk.pad_bottom, pad_left=span_c.pad_before, pad_right=span_c.pad_after,
                            channel_group=cg, channel_offset=channel_offset,
                            bank_addr_weights=wline + bi * L, bank_addr_bias=bias_line + blk_id * bl,
                            length=m, bank_id_out=bank_out, bank_addr_out=line_out + bi * b.olines)
                for k in range(blk.k0, blk.k0 + blk.R):
                    if not per_block_save:
                        ctx.save_row(out_layout, k, ov, oy0 + k, ox0, m, c0, nsave)
                        continue
                    for bi, blk_id in enumerate(chunk):
                        n_ch = min(ocp, cout - blk_id * ocp)
                        ctx.save_row(out_layout, k, ov, oy0 + k, ox0, m, blk_id * ocp, n_ch,
                                     line_offset=bi * b.olines)
    ho, wo = win.ho, win.wo
    work = 2 * ho * wo * cout * kh * kw * cin + ho * wo * cout
    rnd = lambda v, q: -(-v // q) * q  # noqa: E731
    arch = 2 * rnd(ho, pp) * wo * rnd(cout, ocp) * kh * kw * rnd(cin, icp) + rnd(ho, pp) * wo * rnd(cout, ocp)
    ctx.log.append(f"{name}: conv {kh}x{kw}/{win.sh} {cin}->{cout} {win.h}x{win.w}: {len(sp.rows)}x{len(sp.cols)} "
                   f"tiles, {len(chunks)} weight chunk(s) of {NB} block(s)")
    return work, arch, params


def tail_mask(tail: int) -> int:
    """``channel_offset`` for ``tail`` unused channels in the last input group. The weights of those
    channels are zero in CONST, so the products vanish whatever the bank holds; the mask is only
    set when the 5-bit field can hold it and it is below the line width (docs/isa.md §8 [emu])."""
    return tail if tail <= 31 else 0


def _chunk_options(nbt: int, L: int, wa: int) -> list[int]:
    """Output blocks per weight chunk worth trying: all of them when they fit the weights area, the
    most that fit half of it (double buffering), then halvings down to one."""
    out = []
    if nbt * L <= wa:
        out.append(nbt)
    half = min(nbt, max(1, wa // 2 // L))
    while half >= 1:
        if half not in out:
            out.append(half)
        half //= 2
    return out


def _cost(ctx: Ctx, win, sp, nbt: int, nch: int, cin: int, w_bytes: int) -> float:
    """Estimated cycles of a conv tiling (chunks outside, tiles inside): DDR traffic over the
    target's bytes per cycle plus the fixed cost of every instruction."""
    t = ctx.t
    passes = nch if sp.count > 1 else 1          # input tiles are reloaded once per chunk
    rows_in = sum(win.rows(oy0, n).count for oy0, n in sp.rows)
    cols_in = sum(sp.spans[x].count for x, _ in sp.cols)
    traffic = rows_in * cols_in * cin * passes + w_bytes
    convs = sum(len(sp.blocks[oy0]) for oy0, _ in sp.rows) * len(sp.cols) * nbt
    loads = rows_in * len(sp.cols) * passes + nch * t.ocp
    saves = win.ho * len(sp.cols) * nch
    o = t.overheads
    return traffic / max(t.ddr_bytes_per_cycle, 1e-9) + convs * o.conv + loads * o.load + saves * o.save
