"""ELEWINIT and ELEW (docs/isa.md §5.8): element-wise ADD or MUL of up to 16 input blocks.

The fast executor's version: the rules are the reference executor's (vairun/emu/elew.py, which
quotes docs/isa.md), and the results and faults are the same (tests/vairun/test_emu_reference.py);
this module computes them with plans checked once per distinct instruction.

Execution: ADD takes the fast finishing path of finish.py (:class:`FastFinish`) where it is
provably identical to the reference: the inputs, each multiplied by ``2**shift_read`` and the
finishing factor (exact powers of two), are summed in float32/float64 below the exact-integer bound.
MUL and anything else take int64 and the reference finishing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xir.isa import AddressingError, ElewType, input_row_slots

from .. import blocks
from ..faults import fault
from ..banks import Pixels
from ..numerics import finish
from .finish import FastFinish, fast_finish
from .plans import planned


@dataclass(slots=True)
class ElewPlan:
    """A checked ELEW: one gather per input, the shifts, the output pixels."""

    inputs: tuple[tuple[int, np.ndarray], ...]   # (group, flat global lines [R*L*G]) per input
    shift_reads: tuple[int, ...]
    is_mul: bool
    shift_write: int
    act: int
    out: Pixels
    ff: FastFinish | None   # ADD's fast finishing path (None: MUL, or only the reference is safe)


def execute_elewinit(m, instr) -> None:
    """ELEWINIT: configure one input of the element-wise unit."""
    m.set_elew_input(instr)


def execute_elew(m, op) -> ElewPlan:
    """ELEW: read every input block, combine exactly, finish, write."""
    states = []
    for i in range(op["num_inputs"]):
        state = m.elew_inputs.get(i)
        if state is None:
            raise fault(f"ELEW combines {op['num_inputs']} inputs but input {i} was never configured by an "
                        f"ELEWINIT with input_id {i}")
        states.append(state)
    key = ("ELEW", tuple(s[1] for s in states), tuple(op.fields.values()))
    plan = planned(m, key, lambda: _plan(m, [s[0] for s in states], op))
    run_elew(m, plan)
    return plan


def _plan(m, inits, op) -> ElewPlan:
    rows, length, groups = op["valid_pixel_parallel"], op["length"], op["channel_group"]
    blocks.check_rows(rows, m.target.pp)
    is_mul = op["elew_type"] == ElewType.MUL
    inputs = []
    width = None
    for i, init in enumerate(inits):
        if is_mul and init["shift_read"]:
            raise fault(f"ELEW MUL input {i} has shift_read {init['shift_read']}; MUL needs shift_read 0")
        try:
            banks, lines = input_row_slots(init, op, np.arange(rows), pp=m.target.pp)
        except AddressingError as exc:
            raise fault(f"input {i} rows cannot be placed: {exc}", bank=init["bank_id"]) from None
        jr = init["jump_read"]
        gi, base = m.banks.image_rows(init["bank_id"], banks, lines, (length - 1) * jr + groups - 1, f"input {i}")
        if width is not None and m.banks.groups[gi].width != width:
            raise fault(f"input {i} lives in banks of another line width", bank=init["bank_id"])
        width = m.banks.groups[gi].width
        idx = base[:, None, None] + np.arange(length, dtype=np.int64)[:, None] * jr + np.arange(groups)
        inputs.append((gi, idx.ravel()))
    gi_out, starts = blocks.output_rows(m, None, op, rows=rows, length=length, jump=op["jump_write"],
                                        lines_per_pixel=groups)
    shifts = tuple(init["shift_read"] for init in inits)
    ff = None
    if not is_mul:
        ff = fast_finish(sum(128 << s for s in shifts), None, op["shift_write"] + max(shifts), op["act_type"])
        if ff is not None and not ff.is_float:
            ff = None
    return ElewPlan(tuple(inputs), shifts, is_mul, op["shift_write"], op["act_type"],
                    Pixels(m.banks, gi_out, starts, groups * width).check_distinct(m.banks, "output"), ff)


def run_elew(m, p: ElewPlan) -> None:
    """Execute one planned ELEW."""
    if p.ff is not None:
        ff = p.ff
        t = None
        for (gi, idx), s in zip(p.inputs, p.shift_reads):
            x = np.take(m.banks.lines[gi], idx, axis=1).view(np.int8)
            scale = ff.dtype(ff.acc_scale * (1 << s))
            if t is None:
                t = np.multiply(x, scale, dtype=ff.dtype)
                t += ff.offsets(None)
            else:
                t += x * scale
        out = ff.finish_scaled(t)
        p.out.write(m.banks, out.reshape((m.batch,) + p.out.shape + (-1,)))
        return
    data = [np.take(m.banks.data[gi], idx, axis=1).astype(np.int64) for gi, idx in p.inputs]
    if p.is_mul:
        if len(data) > 8:
            bound = 1
            for x in data:
                bound *= max(int(np.abs(x).max(initial=0)), 1)
            if bound >= 1 << 62:
                raise fault(f"ELEW MUL of {len(data)} inputs could overflow int64; use at most 8 inputs")
        total = data[0]
        for x in data[1:]:
            total = total * x
        e = p.shift_write
    else:
        total = np.left_shift(data[0], p.shift_reads[0])
        for x, s in zip(data[1:], p.shift_reads[1:]):
            total += np.left_shift(x, s)
        e = p.shift_write + max(p.shift_reads)
    out = finish(total, e, p.act)
    p.out.write(m.banks, out.reshape((m.batch,) + p.out.shape + (-1,)))
