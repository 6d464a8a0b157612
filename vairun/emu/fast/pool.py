"""POOLINIT and POOL (docs/isa.md §5.5): max or average pooling of one block, channel by channel.

The fast executor's version: the rules are the reference executor's (vairun/emu/pool.py, which
quotes docs/isa.md), and the results and faults are the same (tests/vairun/test_emu_reference.py);
this module computes them with plans checked once per distinct instruction.

Execution: the window maximum stays int8; maxima and sums are finished by the fast path of
finish.py (:class:`FastFinish`) where it is provably identical to the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

from xir.isa import ActType, PoolType

from ..numerics import finish
from .finish import FastFinish, fast_finish
from .window import WindowPlan, plan_windows, read_windows, window_max, window_sum, write_block
from .plans import planned


@dataclass(slots=True)
class PoolPlan:
    """A checked POOL: its window geometry and arithmetic."""

    win: WindowPlan
    is_max: bool
    multi_factor: int
    shift_cut: int
    ff: FastFinish | None


def execute_poolinit(m, instr) -> None:
    """POOLINIT: replace the pool state."""
    m.set_init(instr)


def execute_pool(m, op) -> PoolPlan:
    """POOL: window max or factor-scaled window sum, shifted, rounded once."""
    init, ikey = m.need_init("POOLINIT", op.kind)
    key = ("POOL", ikey, tuple(op.fields.values()))
    plan = planned(m, key, lambda: _plan(m, init, op))
    run_pool(m, plan)
    return plan


def _plan(m, init, op) -> PoolPlan:
    """Check and plan one POOL: windows and the finishing route."""
    is_max = init["pool_type"] == PoolType.MAX
    win = plan_windows(m, init, op, rows=init["valid_pixel_parallel"],
                       kernel=(init["kernel_h"], init["kernel_w"]),
                       stride=(init["stride_h"], init["stride_w"]), jump_read=init["jump_read"],
                       jump_write=init["jump_write"], channel_offset=0, pad_min=is_max)
    bound = 128 if is_max else 128 * win.taps * op["multi_factor"]
    ff = fast_finish(bound, None, init["shift_cut"], ActType.NONE)
    return PoolPlan(win, is_max, op["multi_factor"], init["shift_cut"], ff)


def run_pool(m, plan: PoolPlan) -> None:
    """Execute one planned POOL."""
    cols = read_windows(m, plan.win)
    if plan.is_max:
        acc = window_max(cols, keep_int8=plan.ff is not None)
    else:
        acc = window_sum(m, cols) * plan.multi_factor
    if plan.ff is not None:
        out = plan.ff.apply(acc)
    else:
        out = finish(acc, plan.shift_cut, ActType.NONE)
    write_block(m, plan.win, out)
