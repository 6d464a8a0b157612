"""Exceptions of the instruction-set module: each message says what is wrong, where, and what to do."""

from __future__ import annotations

from ..errors import XirError


class IsaError(XirError):
    """Base class of every instruction-set error (a ValueError): unknown kind, field or layout variant."""


class FieldRangeError(IsaError):
    """A field value that its slot cannot hold; raised on encode, never silently truncated."""

    def __init__(self, kind: str, field: str, value: object, allowed: str, hint: str = "choose a value inside it"):
        self.kind, self.field, self.value, self.allowed = kind, field, value, allowed
        super().__init__(f"{kind} field {field!r} = {value!r} is outside its allowed values {allowed}; {hint}")


class DecodeError(IsaError):
    """A byte stream that is not a valid instruction stream; ``offset`` is the byte offset of the
    offending instruction."""

    def __init__(self, offset: int, problem: str):
        self.offset, self.problem = offset, problem
        super().__init__(f"instruction at byte offset {offset} (0x{offset:x}): {problem}")


class AssemblyError(IsaError):
    """A line of assembly text that cannot be parsed; ``line`` is 1-based."""

    def __init__(self, line: int, problem: str):
        self.line, self.problem = line, problem
        super().__init__(f"assembly line {line}: {problem}")


class DependencyError(IsaError):
    """An instruction stream whose dependency tokens cannot be satisfied (a deadlock) or that is
    otherwise inconsistent; ``index`` is the instruction that cannot proceed."""

    def __init__(self, index: int, problem: str):
        self.index, self.problem = index, problem
        super().__init__(f"instruction {index}: {problem}")


class AddressingError(IsaError):
    """A bank-row placement that the instruction's fields cannot express (for example a read that
    needs more than the four sweep base addresses an instruction carries)."""
