"""DWINIT and DPTWISE (docs/isa.md §5.7): depthwise convolution of one block.

Rules enforced here:

* DPTWISE takes kernel, strides, ``shift_cut``, ``shift_bias``, activation, jumps and placement from
  the most recent DWINIT (a DPTWISE before any DWINIT is a fault), and R = its own
  ``valid_pixel_parallel`` rows.
* Output channel ``ch`` is input channel ``ch`` convolved with its own kernel: the weight of kernel
  position ``k = ky * kernel_w + kx`` is byte ``k * channel_group * ICP + ch`` of the first
  depthwise-weights bank, counted from the first byte of line ``bank_addr_weights``; the bias is
  byte ``ch`` of the bias bank from line ``bank_addr_bias``. A target without a depthwise-weights
  bank cannot run DPTWISE (a fault).
* ``v = (acc + bias * 2**shift_bias) / 2**shift_cut``, activation, one rounding, int8 saturation.
  Padding and ``channel_offset`` work as in CONV.

Execution: the tap sums are one float32 ``einsum`` over the gathered windows (exact: at most 1024
products of two int8 values), with the weights already multiplied by the fast finishing factor
(numerics.py :class:`FastFinish`) where that path applies; else exact int64 sums and the reference
finishing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .faults import fault
from .numerics import F32_EXACT_TERMS, FastFinish, add_bias, add_offsets, exact_tap_sum, fast_finish, finish
from .window import WindowPlan, as_float, plan_windows, read_windows, write_block

#: Largest |x * w| of two int8 values.
MAX_PRODUCT = 1 << 14


@dataclass(slots=True)
class DwPlan:
    """A checked DPTWISE: window geometry, weight and bias spans, arithmetic."""

    win: WindowPlan
    w_span: tuple[int, int, int]
    bias_span: tuple[int, int, int]
    shift_cut: int
    shift_bias: int
    act: int
    ff: FastFinish | None


def depthwise_spans(m, op, taps: int, channels: int, bias_bytes: int):
    """Check and return the weight span (``taps * channels`` bytes) and the bias span."""
    dw = m.target.dwweights_group
    if dw is None:
        raise fault(f"target {m.target.name} has no depthwise-weights bank")
    w_span = m.banks.byte_span(dw.first_id, op["bank_addr_weights"], taps * channels, "depthwise weights")
    bias_span = m.banks.byte_span(m.target.bias_group.first_id, op["bank_addr_bias"], bias_bytes, "bias")
    return w_span, bias_span


def depthwise_acc(m, win: WindowPlan, cols: np.ndarray, w_span) -> np.ndarray:
    """Exact per-channel tap sums of the windows ``cols`` with the weights of ``w_span``."""
    w = m.banks.read_span(w_span).reshape(m.batch, win.taps, -1)
    return exact_tap_sum(as_float(m, cols), w)


def execute_dwinit(m, instr) -> None:
    """DWINIT: replace the depthwise state."""
    m.set_init(instr)


def execute_dptwise(m, op) -> DwPlan:
    """DPTWISE: per-channel window products, bias, shift, activation, one rounding."""
    init, ikey = m.need_init("DWINIT", op.kind)
    key = ("DPTWISE", ikey, tuple(op.fields.values()))
    plan = m.planned(key, lambda: _plan(m, init, op))
    run_dptwise(m, plan)
    return plan


def _plan(m, init, op) -> DwPlan:
    """Check and plan one DPTWISE: windows, weight/bias spans, the finishing route."""
    win = plan_windows(m, init, op, rows=op["valid_pixel_parallel"],
                       kernel=(init["kernel_h"], init["kernel_w"]),
                       stride=(init["stride_h"], init["stride_w"]), jump_read=init["jump_read"],
                       jump_write=init["jump_write"], channel_offset=op["channel_offset"], pad_min=False)
    channels = op["channel_group"] * m.target.icp
    w_span, bias_span = depthwise_spans(m, op, win.taps, channels, channels)
    ff = fast_finish(win.taps * MAX_PRODUCT, init["shift_bias"], init["shift_cut"], init["act_type"])
    if ff is not None and ff.is_float and win.taps > F32_EXACT_TERMS:
        ff = None
    return DwPlan(win, w_span, bias_span, init["shift_cut"], init["shift_bias"],
                  init["act_type"], ff)


def run_dptwise(m, plan: DwPlan) -> None:
    """Execute one planned DPTWISE."""
    cols = read_windows(m, plan.win)
    ff = plan.ff
    bias = m.banks.read_span(plan.bias_span)
    if ff is not None and ff.is_float:
        w = m.banks.read_span(plan.w_span).reshape(m.batch, plan.win.taps, -1)
        wf = np.multiply(w, np.float32(ff.acc_scale), dtype=np.float32)
        acc = np.einsum("bmtc,btc->bmc", as_float(m, cols), wf)
        out = ff.finish_scaled(add_offsets(acc, ff.offsets(bias)[:, None, :]))
    else:
        acc = depthwise_acc(m, plan.win, cols, plan.w_span)
        if ff is not None:
            out = ff.apply(acc, bias[:, None, :])
        else:
            n, e = add_bias(acc, bias.astype(np.int64)[:, None, :], plan.shift_bias, plan.shift_cut)
            out = finish(n, e, plan.act)
    write_block(m, plan.win, out)
