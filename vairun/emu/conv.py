"""CONVINIT and CONV as the reference executor runs them: one output block of a convolution."""

from __future__ import annotations

import numpy as np

from . import blocks
from .banks import Pixels
from .faults import fault
from .numerics import finish_biased


def convinit(m, instr) -> None:
    """CONVINIT (docs/isa.md §5.4, §6): "CONVINIT sets the conv engine's state; every later CONV uses
    the most recent CONVINIT"; the state persists until the next CONVINIT."""
    m.set_init(instr)


def conv(m, op) -> None:
    """CONV (docs/isa.md §5.4, §4.3-§4.5): R = `valid_pixel_parallel` rows by `length` columns by OCP
    output channels. Input: the block of §4.4 (pads read 0) placed by the read rule, `channel_group`
    lines per pixel, tail masked by `channel_offset`. "Conv weights: bank `j` of the weights group
    (OCP banks) holds output channel `j` ... the line `bank_addr_weights + (ky * kernel_w + kx) *
    channel_group + c`"; "bias of output channel `j` is byte `j`" of the bias bank from line
    `bank_addr_bias`. "`acc = sum over ky, kx, input channels of x * w`, exact;
    `v = (acc + bias * 2^shift_bias) / 2^shift_cut`", then the activation, one rounding, int8
    saturation (§5.1); output pixels (OCP channels, `ceil(OCP / width)` lines) by the write rule."""
    init = m.need_init("CONVINIT", op.kind)[0]
    t, banks = m.target, m.banks
    rows, length, groups, co = init["valid_pixel_parallel"], op["length"], op["channel_group"], op["channel_offset"]
    kh, kw = init["kernel_h"], init["kernel_w"]
    blocks.check_rows(rows, t.pp)
    # where it reads and writes (all checked before anything is read)
    gi, idx = blocks.input_windows(m, init, op, rows=rows, length=length, kernel=(kh, kw),
                                   stride=(init["stride_h"], init["stride_w"]), groups=groups,
                                   jump=init["jump_read"], pad_min=False)      # [R, L, kh, kw, G] lines
    width = banks.groups[gi].width
    blocks.check_mask(co, width)
    wg = t.weights_group
    if wg.width != width:
        raise fault(f"input lines hold {width} channels but weights lines hold {wg.width}", bank=wg.first_id)
    nlines = kh * kw * groups
    banks.check_lines(wg.first_id, op["bank_addr_weights"], op["bank_addr_weights"] + nlines - 1, "weights")
    bias_span = banks.byte_span(t.bias_group.first_id, op["bank_addr_bias"], t.ocp, "bias")
    gi_out, starts = blocks.output_rows(m, init, op, rows=rows, length=length, jump=init["jump_write"],
                                        lines_per_pixel=-(-t.ocp // width))
    out = Pixels(banks, gi_out, starts, t.ocp).check_distinct(banks, "output")
    # operands, read from the lines the instruction names
    x = blocks.read_lines(m, gi, idx)                                   # [B, R, L, kh, kw, G, width]
    blocks.mask_tail(x, co)
    w_gi = banks.locate(wg.first_id, "weights")
    w = banks.lines_view(w_gi)[:, :t.ocp, op["bank_addr_weights"]:op["bank_addr_weights"] + nlines, :]
    bias = banks.read_span(bias_span).astype(np.int64)                  # [B, OCP]
    # arithmetic: exact int64 sums, then bias, shift, activation, one rounding
    b, pixels = m.batch, rows * length
    acc = np.matmul(x.reshape(b, pixels, nlines * width).astype(np.int64),
                    w.reshape(b, t.ocp, nlines * width).astype(np.int64).transpose(0, 2, 1))   # [B, R*L, OCP]
    result = finish_biased(acc.reshape(b * pixels, t.ocp), bias, pixels, init["shift_bias"], init["shift_cut"],
                           init["act_type"])
    out.write(banks, result.reshape(b, rows, length, t.ocp))
