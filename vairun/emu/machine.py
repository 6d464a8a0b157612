"""The emulated DPU: memories, engine state and the execution of an instruction stream.

Rules enforced here (docs/isa.md §3, §6):

* The execution order is the one the dependency-token protocol gives
  (``xir.isa.run_tokens(instrs, strict=True).order``): each engine runs its own instructions in
  stream order and engines are ordered only by tokens. A stream that deadlocks, leaves tokens
  unconsumed, lacks END or has an instruction after END is a fault.
* INIT state (CONVINIT, POOLINIT, ALUINIT, DWINIT, ELEWINIT per ``input_id``) persists until the next
  INIT of the same kind (and input id); every run starts without any INIT state, so a stream carries
  its own INITs. Bank contents persist between runs (like the hardware); :meth:`Machine.reset`
  zeroes them.
* Two executors give the same results and the same faults: the reference executor
  (reference.py: one plain function per opcode, instruction after instruction) and the fast one
  (fast/engine.py: plans, fused programs, threads), the default. ``Machine(..., reference=True)``
  or the environment variable ``VAIRUN_EMU_REFERENCE=1`` selects the reference.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np

from xir.isa import DecodeError, DependencyError, Instruction, decode, run_tokens

from . import reference as _reference
from .banks import Banks
from .ddr import Ddr
from .faults import EmulatorFault, fault
from .fast import engine as _fast

#: Environment variable that makes the reference executor the default (``1``, ``true``, ``yes``).
REFERENCE_ENV = "VAIRUN_EMU_REFERENCE"


def reference_default() -> bool:
    """Whether ``VAIRUN_EMU_REFERENCE`` asks for the reference executor."""
    return os.environ.get(REFERENCE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def describe_executor(reference: bool | None = None) -> str:
    """Which executor runs streams (``reference`` None: the environment's default), and for the fast
    one which kernels it uses (fast/accel.py)."""
    if reference_default() if reference is None else reference:
        return "reference executor"
    from .fast import accel
    return f"fast executor, {accel.describe()}"


class Machine:
    """A DPU of ``target`` processing ``batch`` images at once (each with its own banks).

    ``set_reg``/``get_reg`` give the DDR registers their buffers; ``run`` executes a stream.
    ``reference``: execute with the reference executor (default: ``VAIRUN_EMU_REFERENCE``, else
    the fast one); ``threads``: threads the fast executor may split a batch over.
    """

    def __init__(self, target, batch: int = 1, threads: int | None = None, reference: bool | None = None):
        if not getattr(target, "compilable", False) or not target.banks:
            raise ValueError(f"target {getattr(target, 'name', target)!r} has no instruction set to emulate")
        if int(batch) < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.target = target
        self.batch = int(batch)
        self.banks = Banks(target, self.batch)
        self.ddr = Ddr(self.batch)
        self.inits: dict[str, tuple[Instruction, tuple]] = {}
        self.elew_inputs: dict[int, tuple[Instruction, tuple]] = {}
        self.reference = reference_default() if reference is None else bool(reference)
        _fast.prepare(self, threads)

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
        if self.reference:
            return _reference.run(self, self.instructions(program, isa), on_instruction)
        return _fast.run(self, program, isa, on_instruction)

    def instructions(self, program, isa: str | None) -> Sequence[Instruction]:
        """``program`` as a list of Instructions (decoded from bytes in layout ``isa``)."""
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

    @staticmethod
    def execution_order(instrs: Sequence[Instruction]) -> tuple[int, ...]:
        """The order the dependency-token protocol gives; a fault when the stream breaks it."""
        try:
            return run_tokens(instrs, strict=True).order
        except DependencyError as exc:
            kind = instrs[exc.index].kind if 0 <= exc.index < len(instrs) else None
            raise EmulatorFault(exc.problem, index=exc.index, kind=kind) from None

    # ------------------------------------------------------------ INIT state

    def set_init(self, instr: Instruction) -> None:
        """Make ``instr`` (an INIT other than ELEWINIT) the state of its kind."""
        self.inits[instr.kind] = (instr, tuple(instr.fields.values()))

    def need_init(self, init_kind: str, kind: str) -> tuple[Instruction, tuple]:
        """The current ``init_kind`` state and its key; a fault when none was executed yet."""
        state = self.inits.get(init_kind)
        if state is None:
            raise fault(f"{kind} executes before any {init_kind}; emit the {init_kind} first on the same engine")
        return state

    def set_elew_input(self, instr: Instruction) -> None:
        """Make ELEWINIT ``instr`` the setting of its ``input_id``."""
        self.elew_inputs[instr["input_id"]] = (instr, tuple(instr.fields.values()))
