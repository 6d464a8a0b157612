"""The emulated DPU: memories, engine state and the functional execution of an instruction stream.

Rules enforced here (docs/isa.md §3, §6):

* The execution order is the one the dependency-token protocol gives
  (``xir.isa.run_tokens(instrs, strict=True).order``): each engine runs its own instructions in
  stream order and engines are ordered only by tokens. A stream that deadlocks, leaves tokens
  unconsumed, lacks END or has an instruction after END is a fault.
* INIT state (CONVINIT, POOLINIT, ALUINIT, DWINIT, ELEWINIT per ``input_id``) persists until the next
  INIT of the same kind (and input id); every run starts without any INIT state, so a stream carries
  its own INITs. Bank contents persist between runs (like the hardware); :meth:`Machine.reset`
  zeroes them.
* Every instruction executes from its fields and the INIT state alone, vectorized over pixels,
  channels and the batch. Its address arithmetic is checked once per distinct (instruction, INIT)
  pair and kept as a *plan*, so running the same stream again skips it.
* A stream that ran to its end is kept (per machine, the last few streams), and running the same
  stream again (equal kinds, fields and dependency bits, or the same bytes) builds and then executes
  its fused :class:`~vairun.emu.program.Program`, with the same results, unless an
  ``on_instruction`` hook is given (it needs instruction-by-instruction execution) or the DDR
  registers no longer allow the stream's accesses (then the instructions run one by one and the
  right one faults).
"""

from __future__ import annotations

import os
from operator import attrgetter
from typing import Callable, Sequence

import numpy as np

from xir.isa import DecodeError, DependencyError, Instruction, decode, run_tokens

from . import alu, conv, dwconv, elew, load_save, pool
from .allocator import keep_heap
from .banks import Banks
from .ddr import Ddr
from .faults import EmulatorFault, fault
from .program import Kept
from .scratch import Scratch

#: Plans kept per machine before the cache is dropped and rebuilt (bounds memory for long sessions).
MAX_PLANS = 200_000
#: Fused programs kept per machine (the most recently used streams).
MAX_PROGRAMS = 4

_HANDLERS: dict[str, Callable] = {
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


class Machine:
    """A DPU of ``target`` processing ``batch`` images at once (each with its own banks).

    ``set_reg``/``get_reg`` give the DDR registers their buffers; ``run`` executes a stream.
    """

    def __init__(self, target, batch: int = 1, threads: int | None = None):
        if not getattr(target, "compilable", False) or not target.banks:
            raise ValueError(f"target {getattr(target, 'name', target)!r} has no instruction set to emulate")
        if int(batch) < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        keep_heap()
        self.target = target
        self.batch = int(batch)
        self.banks = Banks(target, self.batch)
        self.ddr = Ddr(self.batch)
        self.scratch = Scratch()
        self.conv_cols = None          # (chunks, input group version, float im2col chunks) of the last CONV
        self.conv_weights = (-1, {})   # (weights group version, float weight matrices by key)
        self.plans: dict = {}
        self.inits: dict[str, tuple[Instruction, tuple]] = {}
        self.elew_inputs: dict[int, tuple[Instruction, tuple]] = {}
        self.programs: list[tuple[object, Kept]] = []   # (stream key, its program), most recent last
        #: threads a fused run may split the batch over (program.py); default: the usable CPUs, or
        #: the environment variable VAIRUN_EMU_THREADS
        self.threads = default_threads() if threads is None else max(1, int(threads))
        self.part_scratch: list[Scratch] = []

    # ------------------------------------------------------------ memories

    def set_reg(self, reg_id: int, data, shared: bool = False) -> None:
        """Give DDR register ``reg_id`` its bytes. ``shared=True`` (CONST: parameters) keeps one
        buffer for the whole batch; otherwise (WORKSPACE, INTERFACE) each image has its own buffer:
        pass ``[batch, size]``, or ``[size]`` / bytes to give every image the same start contents."""
        self.ddr.set(reg_id, data, shared)

    def get_reg(self, reg_id: int) -> np.ndarray:
        """The bytes of register ``reg_id`` as int8: ``[size]`` when shared, else ``[batch, size]``.
        A read-only view of the live buffer; copy it to keep it across runs."""
        buf = self.ddr.regs.get(reg_id)
        if buf is None:
            raise KeyError(f"DDR register {reg_id} holds no buffer; set it with set_reg first")
        view = buf[0] if self.ddr.shared[reg_id] else buf
        view = view.view()
        view.flags.writeable = False
        return view

    def bank(self, bank_id: int) -> np.ndarray:
        """The lines of bank ``bank_id``, int8 ``[batch, depth, width]`` (a live view)."""
        try:
            return self.banks.bank_view(bank_id)
        except EmulatorFault as exc:
            raise KeyError(exc.message) from None

    def reset(self) -> None:
        """Zero every bank and forget the INIT state (DDR registers are kept)."""
        self.banks.reset()
        self.inits.clear()
        self.elew_inputs.clear()

    # ------------------------------------------------------------ execution

    def run(self, program, isa: str | None = None, *,
            on_instruction: Callable[[int, Instruction], None] | None = None) -> tuple[int, ...]:
        """Execute ``program`` (a list of Instructions, or encoded bytes in layout ``isa``, default the
        target's) and return the execution order (instruction indices).

        ``on_instruction(index, instr)`` is called after each instruction completes, in execution
        order (END last). Any violation of the contract raises :class:`EmulatorFault`.
        """
        raw = isinstance(program, (bytes, bytearray, memoryview))
        if raw:
            key = (bytes(program), isa or self.target.isa)
            instrs = None
        else:
            instrs = self._instructions(program, isa)
            key = _StreamKey(instrs)
        self.banks.touch_all()  # banks may have been written from outside since the last run
        kept = self._kept(key)
        usable = False
        if kept is not None and (on_instruction is None or kept.program is not None):
            fused = kept.get(self)
            usable = fused.ready(self)
            if usable and on_instruction is None:
                fused.execute(self)
                return fused.order
        if instrs is None:
            instrs = self._instructions(program, isa)
        try:
            order = run_tokens(instrs, strict=True).order
        except DependencyError as exc:
            kind = instrs[exc.index].kind if 0 <= exc.index < len(instrs) else None
            raise EmulatorFault(exc.problem, index=exc.index, kind=kind) from None
        self.inits.clear()
        self.elew_inputs.clear()
        handlers = _HANDLERS
        trace = []
        for i in order:
            instr = instrs[i]
            try:
                trace.append((i, handlers[instr.kind](self, instr)))
            except EmulatorFault as exc:
                raise exc.at(i, instr.kind) from None
            if on_instruction is not None:
                on_instruction(i, instr)
        if not usable and not (kept is not None and kept.program is None):
            # (a hook forces this path: a kept program that fits, or one not built yet, stays)
            self._keep(key, Kept(self, instrs, order, trace))
        return order

    def _kept(self, key) -> Kept | None:
        """What is kept of the stream ``key`` (and mark it most recently used), or None."""
        for n, (k, kept) in enumerate(self.programs):
            if k == key:
                self.programs.append(self.programs.pop(n))
                return kept
        return None

    def _keep(self, key, prog: Kept) -> None:
        if isinstance(key, _StreamKey):
            key.freeze()
        self.programs = [(k, p) for k, p in self.programs if k != key][-(MAX_PROGRAMS - 1):] + [(key, prog)]

    def _instructions(self, program, isa: str | None) -> Sequence[Instruction]:
        if isinstance(program, (bytes, bytearray, memoryview)):
            try:
                return decode(bytes(program), isa or self.target.isa)
            except DecodeError as exc:
                raise EmulatorFault(f"cannot decode the stream: {exc.problem}", address=exc.offset) from None
        instrs = list(program)
        if set(map(type, instrs)) - {Instruction}:
            for i, x in enumerate(instrs):
                if not isinstance(x, Instruction):
                    raise TypeError(f"program item {i} is {type(x).__name__}, not an xir.isa.Instruction")
        return instrs

    # ------------------------------------------------------------ state used by the handlers

    def set_init(self, instr: Instruction) -> None:
        """Make ``instr`` (an INIT other than ELEWINIT) the state of its kind."""
        self.inits[instr.kind] = (instr, tuple(instr.fields.values()))

    def need_init(self, init_kind: str, kind: str) -> tuple[Instruction, tuple]:
        """The current ``init_kind`` state and its key; a fault when none was executed yet."""
        state = self.inits.get(init_kind)
        if state is None:
            raise fault(f"{kind} executes before any {init_kind}; emit the {init_kind} first on the same engine")
        return state

    def planned(self, key: tuple, build):
        """The checked plan cached under ``key`` (the instruction's fields and INIT state), built with
        ``build()`` the first time; address arithmetic and fault checks run once per distinct plan."""
        plan = self.plans.get(key)
        return plan if plan is not None else self.remember(key, build())

    def remember(self, key: tuple, plan):
        """Keep a checked plan for reuse and return it."""
        if len(self.plans) >= MAX_PLANS:
            self.plans.clear()
        self.plans[key] = plan
        return plan


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
