"""The one exception of the emulator: a precise fault naming the instruction that caused it.

Rule: the emulator never fixes a stream up. Anything the contract (docs/isa.md) does not allow -- a
bank id the target lacks, a line at or beyond a bank's depth, a DDR byte outside its register, an
instruction before its INIT, a fifth read sweep, a stream whose tokens deadlock -- stops the run with
an :class:`EmulatorFault` that says which instruction, which bank and which address.
"""

from __future__ import annotations


class EmulatorFault(Exception):
    """A stream the machine cannot execute as written.

    Fields: ``index`` (position of the instruction in the stream, or None), ``kind`` (its kind, or
    None), ``bank`` (the bank id involved, or None), ``address`` (the line, or the DDR byte offset,
    involved, or None) and ``message`` (one line: what is wrong and what to check).
    """

    def __init__(self, message: str, *, index: int | None = None, kind: str | None = None,
                 bank: int | None = None, address: int | None = None):
        self.index, self.kind, self.bank, self.address = index, kind, bank, address
        self.message = " ".join(str(message).split())
        super().__init__(self._text())

    def _text(self) -> str:
        where = []
        if self.index is not None:
            where.append(f"instruction {self.index}")
        if self.kind is not None:
            where.append(f"({self.kind})" if where else self.kind)
        prefix = " ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message

    def at(self, index: int, kind: str) -> "EmulatorFault":
        """The same fault, naming the instruction (used by the machine, which knows the position)."""
        return EmulatorFault(self.message, index=index, kind=kind, bank=self.bank, address=self.address)


def fault(message: str, *, bank: int | None = None, address: int | None = None) -> EmulatorFault:
    """A fault raised inside an instruction handler; the machine adds the index and the kind."""
    return EmulatorFault(message, bank=bank, address=address)
