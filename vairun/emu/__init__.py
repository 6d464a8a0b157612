"""The DPU emulator: executes compiled instruction streams (docs/isa.md) on a model of the machine.

``Machine(target, batch)`` holds the DDR registers, the target's on-chip banks (one copy per image)
and the engines' INIT state; ``Machine.run(instructions)`` executes a stream in the order of the
dependency-token protocol, bit-exact with the reference kernels of ``xir.kernels``. Every violation
of the contract is an :class:`EmulatorFault` naming the instruction, bank and address.
"""

from .faults import EmulatorFault
from .machine import Machine

__all__ = ["EmulatorFault", "Machine"]
