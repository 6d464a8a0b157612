"""CONVINIT and CONV (docs/isa.md §5.4): one output block of a convolution.

Rules enforced here:

* CONV uses the most recent CONVINIT (kernel, strides, shifts, activation, placement); a CONV before
  any CONVINIT is a fault.
* A CONV computes R = ``valid_pixel_parallel`` rows x ``length`` columns x OCP output channels from
  ``channel_group`` input channel groups, the last group's tail masked by ``channel_offset``.
* Weights: bank ``j`` of the weights group holds output channel ``j``; kernel position (ky, kx) and
  channel group c are line ``bank_addr_weights + (ky * kernel_w + kx) * channel_group + c``, i.e.
  the ``kernel_h * kernel_w * channel_group`` lines from ``bank_addr_weights`` are exactly one row of
  the im2col weight matrix. Biases: OCP int8 bytes of the bias bank from ``bank_addr_bias``.
* ``acc`` = the exact sum over kernel positions and input channels of x * w;
  ``v = (acc + bias * 2**shift_bias) / 2**shift_cut``; activation; one rounding; int8 saturation.
* Output channels span ``ceil(OCP / width)`` lines per pixel, written by the write rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import blocks
from .faults import fault
from .memory import Pixels
from .numerics import add_bias, exact_matmul, finish


@dataclass(slots=True)
class ConvPlan:
    """Everything a CONV needs at run time, computed (and checked) once per distinct instruction."""

    gi_in: int
    in_idx: np.ndarray       # flat global lines, im2col order [R*L, kh*kw, G]
    rows: int
    length: int
    taps: int                # kh * kw
    groups: int
    channel_offset: int
    w_gi: int
    w_line: int
    bias_span: tuple[int, int, int]
    shift_cut: int
    shift_bias: int
    act: int
    out: Pixels


def execute_convinit(m, instr) -> None:
    """CONVINIT: replace the conv engine's state."""
    m.set_init(instr)


def execute_conv(m, op) -> None:
    """CONV: gather the im2col block, multiply with the weights in BLAS, finish, write OCP channels."""
    init, ikey = m.need_init("CONVINIT", op.kind)
    key = ("CONV", ikey, tuple(op.fields.values()))
    plan = m.plans.get(key)
    if plan is None:
        plan = m.remember(key, _plan(m, init, op))
    _run(m, plan)


def _plan(m, init, op) -> ConvPlan:
    t, banks = m.target, m.banks
    rows = init["valid_pixel_parallel"]
    blocks.check_rows(rows, t.pp)
    groups, length, co = op["channel_group"], op["length"], op["channel_offset"]
    kh, kw = init["kernel_h"], init["kernel_w"]
    gi_in, idx = blocks.input_windows(m, init, op, rows=rows, length=length, kernel=(kh, kw),
                                      stride=(init["stride_h"], init["stride_w"]), groups=groups,
                                      jump=init["jump_read"], pad_min=False)
    width = banks.groups[gi_in].width
    blocks.check_mask(co, width)
    wg = t.weights_group
    w_gi = banks.locate(wg.first_id, "weights")
    if wg.width != width:
        raise fault(f"input lines hold {width} channels but weights lines hold {wg.width}", bank=wg.first_id)
    nlines = kh * kw * groups
    banks.check_lines(wg.first_id, op["bank_addr_weights"], op["bank_addr_weights"] + nlines - 1, "weights")
    bias_span = banks.byte_span(t.bias_group.first_id, op["bank_addr_bias"], t.ocp, "bias")
    ocp_lines = -(-t.ocp // width)
    gi_out, starts = blocks.output_rows(m, init, op, rows=rows, length=length, jump=init["jump_write"],
                                        lines_per_pixel=ocp_lines)
    return ConvPlan(gi_in, idx.ravel(), rows, length, kh * kw, groups, co, w_gi, op["bank_addr_weights"],
                    bias_span, init["shift_cut"], init["shift_bias"], init["act_type"],
                    Pixels(banks, gi_out, starts, t.ocp))


def _run(m, p: ConvPlan) -> None:
    banks = m.banks
    data = banks.data[p.gi_in]
    b, width = data.shape[0], data.shape[2]
    m_rows = p.rows * p.length
    cols = np.take(data, p.in_idx, axis=1).reshape(b, m_rows, p.taps, p.groups, width)
    blocks.mask_tail(cols, p.channel_offset)
    k = p.taps * p.groups * width
    wv = banks.lines_view(p.w_gi)
    w = wv[:, :, p.w_line:p.w_line + p.taps * p.groups, :].reshape(b, wv.shape[1], k)
    acc = exact_matmul(cols.reshape(b, m_rows, k), w.transpose(0, 2, 1))
    bias = banks.read_span(p.bias_span).astype(np.int64)[:, None, :]
    n, e = add_bias(acc, bias, p.shift_bias, p.shift_cut)
    out = finish(n, e, p.act)
    p.out.write(banks, out.reshape(b, p.rows, p.length, -1))
