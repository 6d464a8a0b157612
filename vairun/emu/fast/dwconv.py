"""DWINIT and DPTWISE (docs/isa.md §5.7): depthwise convolution of one block.

The fast executor's version: the rules are the reference executor's (vairun/emu/dwconv.py, which
quotes docs/isa.md), and the results and faults are the same (tests/vairun/test_emu_reference.py);
this module computes them with plans checked once per distinct instruction.

Execution: the tap sums are one float32 ``einsum`` over the gathered windows (exact: at most 1024
products of two int8 values), with the weights already multiplied by the fast finishing factor
(finish.py :class:`FastFinish`) where that path applies; else exact int64 sums and the reference
finishing. Fused (:class:`DwStep`, used by program.py): the compiled kernel (native.py) where it
is in use and the int32 finishing applies, else the same float route; either way with the weights
and the offsets computed once per content of the shared registers when the builder proved them
constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dwconv import depthwise_spans
from ..numerics import MAX_PRODUCT, add_bias, finish
from . import accel
from .finish import F32_EXACT_TERMS, FastFinish, add_offsets, exact_tap_sum, fast_finish, int32_finish
from .native import DepthwiseKernel
from .window import WindowPlan, as_float, output_view, plan_windows, read_windows, write_block
from .plans import planned



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
    plan = planned(m, key, lambda: _plan(m, init, op))
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
    ff = plan.ff
    if ff is not None and ff.is_float:
        _run_float(m, plan.win, ff, _float_params(m, plan))
        return
    cols = read_windows(m, plan.win)
    bias = m.banks.read_span(plan.bias_span)
    acc = depthwise_acc(m, plan.win, cols, plan.w_span)
    if ff is not None:
        out = ff.apply(acc, bias[:, None, :])
    else:
        n, e = add_bias(acc, bias.astype(np.int64)[:, None, :], plan.shift_bias, plan.shift_cut)
        out = finish(n, e, plan.act)
    write_block(m, plan.win, out)


def _float_params(m, plan: DwPlan, first_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Float route: the weights times ``acc_scale`` (float32 ``[batch, taps, C]``, exact: a power of
    two) and the finishing offsets (``[batch, 1, C]``) read from the banks now (``first_only``: image
    0 only, ``[1, ...]``)."""
    ff, banks = plan.ff, m.banks
    one = 1 if first_only else None
    w = banks.read_span(plan.w_span)[:one]
    wf = np.multiply(w.reshape(w.shape[0], plan.win.taps, -1), np.float32(ff.acc_scale), dtype=np.float32)
    return wf, ff.offsets(banks.read_span(plan.bias_span)[:one])[:, None, :]


def _run_float(m, win: WindowPlan, ff: FastFinish, params) -> None:
    """Float route: tap sums of the windows with the scaled weights, offsets, fast finishing, store."""
    wf, offs = params
    cols = as_float(m, read_windows(m, win))
    acc = m.scratch.get("dw_acc", (cols.shape[0], cols.shape[1], cols.shape[3]), np.float32)
    np.einsum("bmtc,btc->bmc", cols, wf, out=acc)
    t = add_offsets(acc, offs)
    view = output_view(m, win)
    if view is not None:
        ff.finish_scaled(t.reshape(view.shape), view)   # straight into the output bank
        return
    write_block(m, win, ff.finish_scaled(t, m.scratch.get("dw_out", acc.shape, np.uint8)))


class DwStep:
    """A DPTWISE on the float route as a fused step (program.py).

    ``const_params``: the builder proved that every depthwise-weights and bias line it reads was last
    written, in this run, by a LOAD from a register shared by the batch; the weights and the offsets
    are then the same for every image and a function of the shared registers' contents, cached under
    their key (as :class:`vairun.emu.fast.conv.ConvGroup` does).

    The compiled kernel (native.py) computes the step where it is in use, the int32 finishing
    exists for its accumulator bound (finish.py :func:`int32_finish`), and no output pixel is an
    input line of the block (the kernel writes each pixel as soon as it is computed, while the
    instruction reads every window before writing).
    """

    def __init__(self, plan: DwPlan, const_params: bool, banks):
        self.plan, self.const_params = plan, const_params
        self._cache = (None, None)   # (key, params), replaced as a whole
        self.kernel = self.i32 = None
        mod = accel.kernels().native
        win = plan.win
        i32 = int32_finish(plan.ff, win.taps * MAX_PRODUCT)
        if mod is None or i32 is None or (win.out.gi == win.gi_in and win.out.touches(np.unique(win.in_idx))):
            return
        width = banks.groups[win.gi_in].width
        lines = win.in_idx.reshape(win.rows * win.length, win.taps, win.groups)
        self.kernel = DepthwiseKernel(mod, lines, win.out.starts.ravel() * width, width,
                                      banks.flat[win.gi_in].shape[1], banks.flat[win.out.gi].shape[1])
        self.i32 = i32

    def run(self, m, const_key) -> None:
        build = _float_params if self.kernel is None else self._int_params
        if not self.const_params:
            params = build(m, self.plan)
        else:
            key, params = self._cache
            if key != const_key:
                params = build(m, self.plan, first_only=True)
                self._cache = (const_key, params)
        if self.kernel is None:
            _run_float(m, self.plan.win, self.plan.ff, params)
            return
        win, banks = self.plan.win, m.banks
        self.kernel(banks.flat[win.gi_in], params[0], params[1], self.i32, banks.flat[win.out.gi])
        banks.version[win.out.gi] += 1

    def _int_params(self, m, plan: DwPlan, first_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Compiled route: int16 weights ``[batch, taps, C]`` (channels the instruction masks set to
        0: a masked input channel contributes 0 to every tap sum) and the int32 finishing offsets
        ``[batch, C]`` (``first_only``: image 0 only)."""
        banks = m.banks
        one = 1 if first_only else None
        w = banks.read_span(plan.w_span)[:one]
        w16 = w.reshape(w.shape[0], plan.win.taps, -1).astype(np.int16)
        if plan.win.channel_offset:
            w16[..., w16.shape[-1] - plan.win.channel_offset:] = 0
        return w16, self.i32.offsets(banks.read_span(plan.bias_span)[:one])
