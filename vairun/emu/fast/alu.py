"""ALUINIT and ALU (docs/isa.md §5.6): the general window engine (pooling, depthwise conv, activations).

The fast executor's version: the rules are the reference executor's (vairun/emu/alu.py, which quotes
docs/isa.md), and the results and faults are the same (tests/vairun/test_emu_reference.py); this
module computes them with plans checked once per distinct instruction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xir.isa import ActType, AluType

from .dwconv import depthwise_acc, depthwise_spans
from ..numerics import add_bias, finish, finish_hsigmoid, finish_prelu
from .window import WindowPlan, plan_windows, read_windows, window_max, window_sum, write_block
from .plans import planned


@dataclass(slots=True)
class AluPlan:
    """A checked ALU: window geometry, operation, spans of weights/biases/slopes, arithmetic."""

    win: WindowPlan
    alu_type: int
    channels: int
    w_span: tuple[int, int, int] | None
    bias_span: tuple[int, int, int] | None
    init: dict


def execute_aluinit(m, instr) -> None:
    """ALUINIT: replace the ALU state."""
    m.set_init(instr)


def execute_alu(m, op) -> AluPlan:
    """ALU: window operation, then the activation and one rounding."""
    init, ikey = m.need_init("ALUINIT", op.kind)
    key = ("ALU", ikey, tuple(op.fields.values()))
    plan = planned(m, key, lambda: _plan(m, init, op))
    run_alu(m, plan)
    return plan


def _plan(m, init, op) -> AluPlan:
    alu_type = init["alu_type"]
    win = plan_windows(m, init, op, rows=op["valid_pixel_parallel"], kernel=(init["kernel_h"], init["kernel_w"]),
                       stride=(init["stride_h"], init["stride_w"]), jump_read=init["jump_read"],
                       jump_write=init["jump_write"], channel_offset=op["channel_offset"],
                       pad_min=alu_type == AluType.MAXPOOL)
    channels = op["channel_group"] * m.target.icp
    prelu = init["act_type"] == ActType.PRELU
    bias_bytes = channels * (2 if prelu else 1)
    w_span = bias_span = None
    if alu_type == AluType.DWCONV:
        w_span, bias_span = depthwise_spans(m, op, win.taps, channels, bias_bytes)
    elif prelu:
        bias_span = m.banks.byte_span(m.target.bias_group.first_id, op["bank_addr_bias"], bias_bytes,
                                      "PRELU slopes")
    return AluPlan(win, alu_type, channels, w_span, bias_span, dict(init.fields))


def run_alu(m, p: AluPlan) -> None:
    """Execute one planned ALU."""
    f = p.init
    cols = read_windows(m, p.win)
    side = None if p.bias_span is None else m.banks.read_span(p.bias_span).astype(np.int64)[:, None, :]
    e = 0  # the exact acc is n * 2**-e (e > 0 only when a negative shift_bias shifted it left)
    if p.alu_type == AluType.MAXPOOL:
        n = window_max(cols)
    elif p.alu_type == AluType.AVGPOOL:
        n = window_sum(m, cols) * f["multi_factor"]
    else:
        n, e = add_bias(depthwise_acc(m, p.win, cols, p.w_span), side[..., :p.channels], f["shift_bias"], 0)
    act = f["act_type"]
    if act == ActType.PRELU:
        out = finish_prelu(n, side[..., p.channels:], f["shift_prelu_p"] + e, f["shift_prelu_n"] + e)
    elif act in (ActType.HSIGMOID, ActType.HSWISH):
        out = finish_hsigmoid(n, f["shift_cut"] + e, f["hsigmoid_in"], f["hsigmoid_out"], act)
    else:
        out = finish(n, f["shift_cut"] + e, act)
    write_block(m, p.win, out)
