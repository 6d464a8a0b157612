"""The fast executor (the default): planned instructions, kept streams and fused programs (no contract
rule: a speed device whose results, faults included, are those of the reference executor of
vairun/emu/reference.py; tests/vairun/test_emu_reference.py checks it).

Rules:

* Every instruction executes from its fields and the INIT state alone, vectorized over pixels,
  channels and the batch. Its address arithmetic is checked once per distinct (instruction, INIT)
  pair and kept as a *plan* (:func:`planned`), so running the same stream again skips it. A plan
  holds where to read and write, never what the banks hold: every operand is read from the banks
  when the instruction executes.
* A stream that ran to its end is kept (per machine, the last few streams), and running the same
  stream again (equal kinds, fields and dependency bits, or the same bytes) builds and then executes
  its fused :class:`~vairun.emu.fast.program.Program`, with the same results, unless an
  ``on_instruction`` hook is given (it needs instruction-by-instruction execution) or the DDR
  registers no longer allow the stream's accesses (then the instructions run one by one and the
  right one faults).
"""

from __future__ import annotations

import os
from operator import attrgetter
from typing import Callable, Sequence

from xir.isa import Instruction

from ..faults import EmulatorFault
from . import alu, conv, dwconv, elew, load_save, pool
from .program import Kept
from .scratch import Scratch

#: Fused programs kept per machine (the most recently used streams).
MAX_PROGRAMS = 4

HANDLERS: dict[str, Callable] = {
    "LOAD": load_save.execute_load,
    "SAVE": load_save.execute_save,
    "CONVINIT": conv.execute_convinit,
    "CONV": conv.execute_conv,
    "POOLINIT": pool.execute_poolinit,
    "POOL": pool.execute_pool,
    "ALUINIT": alu.execute_aluinit,
    "ALU": alu.execute_alu,
    "DWINIT": dwconv.execute_dwinit,
    "DPTWISE": dwconv.execute_dptwise,
    "ELEWINIT": elew.execute_elewinit,
    "ELEW": elew.execute_elew,
    "END": lambda m, instr: None,
}


def prepare(m, threads: int | None) -> None:
    """Give machine ``m`` the fast executor's state (plan cache, kept streams, work buffers)."""
    m.scratch = Scratch()
    m.conv_cols = None          # (chunks, input group version, float im2col chunks) of the last CONV
    m.conv_weights = (-1, {})   # (weights group version, float weight matrices by key)
    m.plans = {}
    m.programs = []             # (stream key, its Kept), most recent last
    #: threads a fused run may split the batch over (program.py); default: the usable CPUs, or the
    #: environment variable VAIRUN_EMU_THREADS
    m.threads = default_threads() if threads is None else max(1, int(threads))
    m.part_scratch = []


def run(m, program, isa: str | None, on_instruction) -> tuple[int, ...]:
    """Execute ``program`` on ``m`` (see :meth:`vairun.emu.Machine.run`) with plans and fused programs."""
    raw = isinstance(program, (bytes, bytearray, memoryview))
    if raw:
        key = (bytes(program), isa or m.target.isa)
        instrs = None
    else:
        instrs = m.instructions(program, isa)
        key = _StreamKey(instrs)
    m.banks.touch_all()  # banks may have been written from outside since the last run
    kept = _kept(m, key)
    usable = False
    if kept is not None and (on_instruction is None or kept.program is not None):
        fused = kept.get(m)
        usable = fused.ready(m)
        if usable and on_instruction is None:
            fused.execute(m)
            return fused.order
    if instrs is None:
        instrs = m.instructions(program, isa)
    order = m.execution_order(instrs)
    m.inits.clear()
    m.elew_inputs.clear()
    handlers = HANDLERS
    trace = []
    for i in order:
        instr = instrs[i]
        try:
            trace.append((i, handlers[instr.kind](m, instr)))
        except EmulatorFault as exc:
            raise exc.at(i, instr.kind) from None
        if on_instruction is not None:
            on_instruction(i, instr)
    if not usable and not (kept is not None and kept.program is None):
        # (a hook forces this path: a kept program that fits, or one not built yet, stays)
        _keep(m, key, Kept(m, instrs, order, trace))
    return order


def _kept(m, key) -> Kept | None:
    """What is kept of the stream ``key`` (and mark it most recently used), or None."""
    for n, (k, kept) in enumerate(m.programs):
        if k == key:
            m.programs.append(m.programs.pop(n))
            return kept
    return None


def _keep(m, key, prog: Kept) -> None:
    if isinstance(key, _StreamKey):
        key.freeze()
    m.programs = [(k, p) for k, p in m.programs if k != key][-(MAX_PROGRAMS - 1):] + [(key, prog)]


def default_threads() -> int:
    """VAIRUN_EMU_THREADS if set, else the CPUs this process may run on."""
    env = os.environ.get("VAIRUN_EMU_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


_KIND, _DPDON, _DPDBY, _FIELDS = (attrgetter(a) for a in ("kind", "dpdon", "dpdby", "fields"))


class _StreamKey:
    """A snapshot of a decoded stream (kinds, dependency bits, fields), equal to another snapshot, or
    compared with a live instruction list, by content."""

    __slots__ = ("n", "kinds", "dpdon", "dpdby", "fields")

    def __init__(self, instrs: Sequence[Instruction]):
        self.n = len(instrs)
        self.kinds = list(map(_KIND, instrs))
        self.dpdon = list(map(_DPDON, instrs))
        self.dpdby = list(map(_DPDBY, instrs))
        self.fields = list(map(_FIELDS, instrs))

    def freeze(self) -> "_StreamKey":
        """Copy the field dicts (a kept key must not follow later changes of the instructions)."""
        self.fields = [dict(f) for f in self.fields]
        return self

    def __eq__(self, other) -> bool:
        return (isinstance(other, _StreamKey) and self.n == other.n and self.kinds == other.kinds
                and self.dpdon == other.dpdon and self.dpdby == other.dpdby and self.fields == other.fields)

    __hash__ = None
