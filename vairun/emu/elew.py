"""ELEWINIT and ELEW as the reference executor runs them: element-wise ADD or MUL of input blocks."""

from __future__ import annotations

import numpy as np

from xir.isa import AddressingError, ElewType, input_row_slots

from . import blocks
from .banks import Pixels
from .faults import fault
from .numerics import finish


def elewinit(m, instr) -> None:
    """ELEWINIT (docs/isa.md §5.8): "ELEWINIT configures input `input_id` (0 .. 15) of the element-wise
    unit: first bank `bank_id`, base `bank_addr`, `jump_read`, `jump_read_endl` and `shift_read`. The
    setting persists until the next ELEWINIT with the same `input_id`.\""""
    m.set_elew_input(instr)


def elew(m, op) -> None:
    """ELEW (docs/isa.md §5.8, §4.3): "ELEW combines inputs 0 .. `num_inputs`-1 (each must have been
    configured; otherwise a fault) over a block of R = `valid_pixel_parallel` rows by `length` columns
    by `channel_group` lines, each input read with the ELEW read rule" (g = 1, p = 0, sweep bases
    `bank_addr + w * jump_read_endl`). "ADD: `v = (sum_i q_i * 2^shift_read_i) * 2^-(shift_write +
    S)`, S = the largest `shift_read`"; "MUL: `v = (prod_i q_i) * 2^-shift_write`; `shift_read` must be
    0"; "then the activation (NONE, RELU, LEAKYRELU, RELU6), one rounding, saturation; written with
    `bank_id_out`, `bank_addr_out`, `jump_write`, `jump_write_endl` (g = 1, p = 0)". A product that
    could leave int64 is a fault."""
    inits = []
    for i in range(op["num_inputs"]):
        state = m.elew_inputs.get(i)
        if state is None:
            raise fault(f"ELEW combines {op['num_inputs']} inputs but input {i} was never configured by an "
                        f"ELEWINIT with input_id {i}")
        inits.append(state[0])
    rows, length, groups = op["valid_pixel_parallel"], op["length"], op["channel_group"]
    blocks.check_rows(rows, m.target.pp)
    is_mul = op["elew_type"] == ElewType.MUL
    where, width = [], None
    for i, init in enumerate(inits):
        if is_mul and init["shift_read"]:
            raise fault(f"ELEW MUL input {i} has shift_read {init['shift_read']}; MUL needs shift_read 0")
        try:
            row_banks, lines = input_row_slots(init, op, np.arange(rows), pp=m.target.pp)
        except AddressingError as exc:
            raise fault(f"input {i} rows cannot be placed: {exc}", bank=init["bank_id"]) from None
        jr = init["jump_read"]
        gi, base = m.banks.image_rows(init["bank_id"], row_banks, lines, (length - 1) * jr + groups - 1,
                                      f"input {i}")
        if width is not None and m.banks.groups[gi].width != width:
            raise fault(f"input {i} lives in banks of another line width", bank=init["bank_id"])
        width = m.banks.groups[gi].width
        where.append((gi, base[:, None, None] + np.arange(length)[:, None] * jr + np.arange(groups)))
    gi_out, starts = blocks.output_rows(m, None, op, rows=rows, length=length, jump=op["jump_write"],
                                        lines_per_pixel=groups)
    out = Pixels(m.banks, gi_out, starts, groups * width).check_distinct(m.banks, "output")
    q = [blocks.read_lines(m, gi, idx).astype(np.int64) for gi, idx in where]   # [B, R, L, G, width] each
    shifts = [init["shift_read"] for init in inits]
    if is_mul:
        if len(q) > 8:
            bound = 1
            for x in q:
                bound *= max(int(np.abs(x).max(initial=0)), 1)
            if bound >= 1 << 62:
                raise fault(f"ELEW MUL of {len(q)} inputs could overflow int64; use at most 8 inputs")
        total, e = q[0], op["shift_write"]
        for x in q[1:]:
            total = total * x
    else:
        total, e = sum(np.left_shift(x, s) for x, s in zip(q, shifts)), op["shift_write"] + max(shifts)
    out.write(m.banks, finish(total, e, op["act_type"]).reshape((m.batch,) + out.shape + (-1,)))
