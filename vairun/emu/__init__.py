"""The DPU emulator: executes compiled instruction streams (docs/isa.md) on a model of the machine.

``Machine(target, batch)`` holds the DDR registers, the target's on-chip banks (one copy per image)
and the engines' INIT state; ``Machine.run(instructions)`` executes a stream in the order of the
dependency-token protocol, bit-exact with the reference kernels of ``xir.kernels``. Every violation
of the contract is an :class:`EmulatorFault` naming the instruction, bank and address.

Two executors give the same results and faults: the reference one (reference.py, one plain function
per opcode in load_save.py, conv.py, pool.py, alu.py, dwconv.py, elew.py) and the fast one
(fast/, the default). ``Machine(..., reference=True)`` or ``VAIRUN_EMU_REFERENCE=1`` selects the
reference executor.
"""

from .faults import EmulatorFault
from .machine import REFERENCE_ENV, Machine

__all__ = ["EmulatorFault", "Machine", "REFERENCE_ENV"]
