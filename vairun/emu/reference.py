"""The reference executor: the stream executed instruction after instruction, each opcode by one plain
numpy function that states its rule (docs/isa.md §5) -- fields, bank reads, arithmetic, bank writes --
with no plans, caches, fusion or threads.

Rules: instructions run in the order of the dependency-token protocol (machine.py); every run starts
without INIT state; a fault names the instruction. The fast executor (fast/engine.py) must give the
same banks, DDR contents and faults (tests/vairun/test_emu_reference.py).

| opcode | function | docs/isa.md |
|---|---|---|
| LOAD | :func:`vairun.emu.load_save.load` | §5.2 |
| SAVE | :func:`vairun.emu.load_save.save` | §5.3 |
| CONVINIT, CONV | :func:`vairun.emu.conv.convinit`, :func:`vairun.emu.conv.conv` | §5.4 |
| POOLINIT, POOL | :func:`vairun.emu.pool.poolinit`, :func:`vairun.emu.pool.pool` | §5.5 |
| ALUINIT, ALU | :func:`vairun.emu.alu.aluinit`, :func:`vairun.emu.alu.alu` | §5.6 |
| DWINIT, DPTWISE | :func:`vairun.emu.dwconv.dwinit`, :func:`vairun.emu.dwconv.dptwise` | §5.7 |
| ELEWINIT, ELEW | :func:`vairun.emu.elew.elewinit`, :func:`vairun.emu.elew.elew` | §5.8 |
| END | :func:`end` | §5.9 |
"""

from __future__ import annotations

from typing import Callable

from .alu import alu, aluinit
from .conv import conv, convinit
from .dwconv import dptwise, dwinit
from .elew import elew, elewinit
from .faults import EmulatorFault
from .load_save import load, save
from .pool import pool, poolinit


def end(m, instr) -> None:
    """END (docs/isa.md §5.9): "Marks the end of the stream. The run is finished when every engine has
    completed all its instructions." (That nothing follows it is checked with the tokens.)"""


OPCODES: dict[str, Callable] = {
    "LOAD": load, "SAVE": save, "CONVINIT": convinit, "CONV": conv, "POOLINIT": poolinit, "POOL": pool,
    "ALUINIT": aluinit, "ALU": alu, "DWINIT": dwinit, "DPTWISE": dptwise, "ELEWINIT": elewinit, "ELEW": elew,
    "END": end,
}


def run(m, instrs, on_instruction=None) -> tuple[int, ...]:
    """Execute the decoded stream ``instrs`` on machine ``m``; returns the execution order."""
    order = m.execution_order(instrs)
    m.inits.clear()
    m.elew_inputs.clear()
    for i in order:
        instr = instrs[i]
        try:
            OPCODES[instr.kind](m, instr)
        except EmulatorFault as exc:
            raise exc.at(i, instr.kind) from None
        if on_instruction is not None:
            on_instruction(i, instr)
    return order
