"""Where the rows of an image block live in the banks: the row placement rule, in one place, for the
compiler (which lays tiles out) and the emulator (which reads and writes them).

Image banks form lane blocks of PP consecutive bank ids, starting at a multiple of PP (the target's
``pp``). A run of rows is described by a first bank (its lane), a group ``g`` (rows that share one
bank slot), a phase ``p`` (slot position of row 0), a ``jump_endl`` (lines between rows of one slot)
and sweep base lines. Row r goes to::

    t = p + r;  step = t // g;  lane = (first_bank mod PP) + step
    bank = first_bank - first_bank mod PP + lane mod PP
    line = sweep_base[lane // PP] + (t mod g) * jump_endl

and pixel x, channel group c of that row is at ``line + x * jump + c``. Reads use g = stride_h,
p = stride_offset_in and the four sweep bases the instruction carries (ELEW inputs: g = 1, p = 0 and
uniform bases); writes use g = stride_out, p = stride_offset_out and uniform bases
``bank_addr_out + w * g * jump_write_endl``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import AddressingError, IsaError
from .instruction import Instruction

#: The INIT kind whose state each block-computing kind reads.
INIT_OF = {"CONV": "CONVINIT", "DPTWISE": "DWINIT", "POOL": "POOLINIT", "ALU": "ALUINIT", "ELEW": "ELEWINIT"}


def block_extent(count: int, stride: int, kernel: int) -> int:
    """Input rows (or columns) a block of ``count`` outputs spans, padding included."""
    return (count - 1) * stride + kernel


def tile_index(extent: int, pad_before: int, pad_after: int) -> np.ndarray:
    """For each of ``extent`` block positions, the tile row/column it reads, or -1 for padding (the
    first ``pad_before`` and last ``pad_after`` positions are virtual and not stored)."""
    idx = np.arange(extent, dtype=np.int64) - pad_before
    idx[(idx < 0) | (np.arange(extent) >= extent - pad_after)] = -1
    return idx


def uniform_sweep_bases(base: int, group: int, jump_endl: int, count: int) -> list[int]:
    """Sweep base lines spaced ``group * jump_endl`` apart, as writes (and ELEW reads) use."""
    return [base + w * group * jump_endl for w in range(count)]


def row_slots(rows, *, first_bank: int, pp: int, group: int, phase: int, jump_endl: int,
              sweep_bases: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Bank id and line of pixel 0 for every row index in ``rows`` (row placement rule above).

    AddressingError when a row needs a sweep beyond ``sweep_bases``.
    """
    if pp < 1 or group < 1:
        raise IsaError(f"row placement needs pp >= 1 and group >= 1, got pp={pp}, group={group}")
    r = np.asarray(rows, dtype=np.int64)
    t = phase + r
    lane = first_bank % pp + t // group
    sweep = lane // pp
    if r.size and int(sweep.max()) >= len(sweep_bases):
        raise AddressingError(f"row {int(r[np.argmax(sweep)])} falls in sweep {int(sweep.max())} but only "
                              f"{len(sweep_bases)} sweep base address(es) are available; compute fewer rows "
                              f"per instruction (valid_pixel_parallel) or start at an earlier lane")
    banks = first_bank - first_bank % pp + lane % pp
    lines = np.asarray(sweep_bases, dtype=np.int64)[sweep] + (t % group) * jump_endl
    return banks, lines


def block_lines(row_lines, columns: int, jump: int, groups: int) -> np.ndarray:
    """Lines of every (row, column, channel group) of a block: ``row_line + x * jump + c``."""
    base = np.asarray(row_lines, dtype=np.int64)
    return (base[:, None, None] + np.arange(columns)[None, :, None] * jump + np.arange(groups)[None, None, :])


def _need(init: Instruction | None, kind: str) -> Instruction:
    want = INIT_OF[kind]
    if init is None or init.kind != want:
        got = "nothing" if init is None else init.kind
        raise IsaError(f"{kind} reads its state from the latest {want}, but {got} was given")
    return init


def input_row_slots(init: Instruction, op: Instruction, rows, *, pp: int) -> tuple[np.ndarray, np.ndarray]:
    """Bank and line of pixel 0 of input tile rows ``rows`` of ``op`` (CONV, DPTWISE, POOL, ALU), or of
    an ELEW input (pass that input's ELEWINIT as ``init``). Columns then step by the init's jump_read."""
    if op.kind == "ELEW":
        init = _need(init, "ELEW")
        return _uniform_rows(rows, init["bank_id"], init["bank_addr"], 1, 0, init["jump_read_endl"], pp)
    if op.kind not in INIT_OF:
        raise IsaError(f"{op.kind} does not read image rows; use CONV, DPTWISE, POOL, ALU or ELEW")
    init = _need(init, op.kind)
    endl = op["jump_read_endl"] if op.kind == "POOL" else init["jump_read_endl"]
    bases = [op["bank_addr_in"], op["bank_addr_in_1"], op["bank_addr_in_2"], op["bank_addr_in_3"]]
    return row_slots(rows, first_bank=op["bank_id_in"], pp=pp, group=init["stride_h"],
                     phase=init["stride_offset_in"], jump_endl=endl, sweep_bases=bases)


def output_row_slots(init: Instruction | None, op: Instruction, rows, *, pp: int) -> tuple[np.ndarray, np.ndarray]:
    """Bank and line of pixel 0 of output rows ``rows`` of ``op``; ``init`` is its INIT (ignored for
    ELEW, whose output always uses group 1 and phase 0)."""
    if op.kind == "ELEW":
        group, phase, endl = 1, 0, op["jump_write_endl"]
    elif op.kind in INIT_OF:
        init = _need(init, op.kind)
        group, phase = init["stride_out"], init["stride_offset_out"]
        endl = op["jump_write_endl"] if op.kind == "POOL" else init["jump_write_endl"]
    else:
        raise IsaError(f"{op.kind} does not write image rows; use CONV, DPTWISE, POOL, ALU or ELEW")
    return _uniform_rows(rows, op["bank_id_out"], op["bank_addr_out"], group, phase, endl, pp)


def _uniform_rows(rows, first_bank: int, base: int, group: int, phase: int, endl: int,
                  pp: int) -> tuple[np.ndarray, np.ndarray]:
    """Row placement with as many uniform sweeps as ``rows`` need."""
    r = np.asarray(rows, dtype=np.int64)
    last = int(r.max(initial=0))
    sweeps = 1 + (first_bank % pp + (phase + last) // group) // pp
    bases = uniform_sweep_bases(base, group, endl, sweeps)
    return row_slots(r, first_bank=first_bank, pp=pp, group=group, phase=phase, jump_endl=endl,
                     sweep_bases=bases)
