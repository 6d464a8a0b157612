"""Generic bit-field machinery: how one field value is stored in its slot of a 32-bit word.

A field has a *coding* that is the same in every layout variant, and a *width* that a variant gives
it. Instructions carry logical values; the slot stores raw bits:

* ``unsigned``  raw = value,                 value in [0, 2**w - 1]
* ``minus-one`` raw = value - 1,             value in [1, 2**w]       (counts and sizes)
* ``signed``    raw = value mod 2**w,        value in [-2**(w-1), 2**(w-1) - 1] (two's complement)
* ``enum``      raw = value,                 value one of the field's named codes
* ``reserved``  raw = 0 on encode, and a decoder rejects any other raw value

Every coding maps the default value (:func:`default_value`) to raw 0, so an instruction built with
only some fields given encodes every other slot as zero bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class Coding(str, Enum):
    """How a slot's raw bits relate to the field's logical value."""

    UNSIGNED = "unsigned"
    MINUS_ONE = "minus-one"
    SIGNED = "signed"
    ENUM = "enum"
    RESERVED = "reserved"
    HEADER = "header"


@dataclass(frozen=True)
class FieldDef:
    """The variant-independent definition of one instruction field: name, coding, codes, meaning."""

    name: str
    coding: Coding
    meaning: str
    codes: type[IntEnum] | None = None
    allowed: tuple[int, ...] | None = None  # a subset of ``codes`` this instruction accepts

    def __post_init__(self) -> None:
        if (self.coding is Coding.ENUM) != (self.codes is not None):
            raise ValueError(f"field {self.name!r}: an enum field needs codes, other fields must not have any")

    @property
    def choices(self) -> tuple[int, ...] | None:
        """The raw values an enum field accepts (``None`` for other codings)."""
        if self.codes is None:
            return None
        return self.allowed if self.allowed is not None else tuple(int(c) for c in self.codes)


@dataclass(frozen=True)
class Slot:
    """A field placed in one layout variant: word index, least significant bit, width."""

    name: str
    word: int
    lsb: int
    width: int
    coding: Coding
    choices: tuple[int, ...] | None = None

    @property
    def mask(self) -> int:
        """All-ones of the slot's width (before shifting)."""
        return (1 << self.width) - 1

    @property
    def lo(self) -> int:
        """Smallest logical value the slot holds."""
        if self.coding is Coding.MINUS_ONE:
            return 1
        if self.coding is Coding.SIGNED:
            return -(1 << (self.width - 1))
        if self.choices is not None:
            return min(self.choices)
        return 0

    @property
    def hi(self) -> int:
        """Largest logical value the slot holds."""
        if self.coding is Coding.MINUS_ONE:
            return 1 << self.width
        if self.coding is Coding.SIGNED:
            return (1 << (self.width - 1)) - 1
        if self.choices is not None:
            return max(self.choices)
        if self.coding is Coding.RESERVED:
            return 0
        return self.mask

    def allowed_text(self) -> str:
        """Human-readable allowed values, used in error messages and documentation."""
        if self.choices is not None:
            return "{" + ", ".join(str(c) for c in self.choices) + "}"
        return f"[{self.lo}, {self.hi}]"

    def accepts(self, value: int) -> bool:
        """True when ``value`` is a logical value this slot can store."""
        if self.choices is not None:
            return value in self.choices
        return self.lo <= value <= self.hi


def default_value(coding: Coding) -> int:
    """The logical value that a slot of this coding stores as zero bits (1 for minus-one, else 0)."""
    return 1 if coding is Coding.MINUS_ONE else 0


def to_raw(slot: Slot, value: int) -> int:
    """Raw bits (unshifted) of an in-range logical value; the caller has checked :meth:`Slot.accepts`."""
    if slot.coding is Coding.MINUS_ONE:
        return value - 1
    if slot.coding is Coding.SIGNED:
        return value & slot.mask
    return value


def from_raw(slot: Slot, raw: int) -> int:
    """Logical value of a slot's raw bits (inverse of :func:`to_raw`)."""
    if slot.coding is Coding.MINUS_ONE:
        return raw + 1
    if slot.coding is Coding.SIGNED and raw >> (slot.width - 1):
        return raw - (1 << slot.width)
    return raw


def parse_word(spec: tuple[str, ...]) -> list[tuple[str, int]]:
    """Parse one word of a layout table, ``("name:width", ...)`` from the least significant bit."""
    out = []
    for item in spec:
        name, _, width = item.partition(":")
        out.append((name.strip(), int(width)))
    return out
