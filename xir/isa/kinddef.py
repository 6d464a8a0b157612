"""The definition of one instruction kind: opcode, fields (coding + meaning) and one word table per
layout variant. Construction checks the tables: word 0 holds 20 payload bits, every other word 32,
and every field appears exactly once in every variant."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from .fields import Coding, FieldDef, Slot, parse_word

#: The layout variants: ISA1 is the published DPUCZDX8G layout, ISA1X the project's wide one.
ISAS = ("ISA1", "ISA1X")
#: Payload bits of word 0 (bits 31..20 hold opcode, dpdon, dpdby).
WORD0_PAYLOAD_BITS = 20
HEADER_SLOTS = (("dpdby", 20, 4), ("dpdon", 24, 4), ("opcode", 28, 4))

U, M1, S, E = Coding.UNSIGNED, Coding.MINUS_ONE, Coding.SIGNED, Coding.ENUM


def f(name: str, coding: Coding, meaning: str, codes: type[IntEnum] | None = None,
      allowed: tuple[IntEnum, ...] | None = None) -> FieldDef:
    """Shorthand used by the kind tables to declare one field."""
    return FieldDef(name, coding, meaning, codes, None if allowed is None else tuple(int(a) for a in allowed))


@dataclass(frozen=True)
class KindDef:
    """One instruction kind: its opcode, engine-independent field definitions and word tables."""

    name: str
    opcode: int
    summary: str
    fields: tuple[FieldDef, ...]
    tables: dict[str, tuple[tuple[str, ...], ...]]
    published: frozenset[str] = frozenset()
    slots: dict[str, tuple[tuple[Slot, ...], ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {fd.name: fd for fd in self.fields}
        if len(by_name) != len(self.fields) or "rsv" in by_name:
            raise ValueError(f"{self.name}: field names must be unique and must not be 'rsv'")
        built = {}
        for isa in ISAS:
            built[isa] = self._build(isa, by_name)
        object.__setattr__(self, "slots", built)

    def _build(self, isa: str, by_name: dict[str, FieldDef]) -> tuple[tuple[Slot, ...], ...]:
        table = self.tables[isa]
        seen: list[str] = []
        words = []
        for w, spec in enumerate(table):
            lsb, slots = 0, []
            for name, width in parse_word(spec):
                if name == "rsv":
                    slots.append(Slot("rsv", w, lsb, width, Coding.RESERVED))
                else:
                    fd = by_name.get(name)
                    if fd is None:
                        raise ValueError(f"{self.name}/{isa}: word {w} names undeclared field {name!r}")
                    slot = Slot(name, w, lsb, width, fd.coding, fd.choices)
                    if fd.choices is not None and max(fd.choices) > slot.mask:
                        raise ValueError(f"{self.name}/{isa}: codes of {name!r} do not fit {width} bits")
                    slots.append(slot)
                    seen.append(name)
                lsb += width
            want = WORD0_PAYLOAD_BITS if w == 0 else 32
            if lsb != want:
                raise ValueError(f"{self.name}/{isa}: word {w} holds {lsb} bits, expected {want}")
            if w == 0:
                slots.extend(Slot(n, 0, b, wd, Coding.HEADER) for n, b, wd in HEADER_SLOTS)
            words.append(tuple(slots))
        if sorted(seen) != sorted(by_name):
            missing = sorted(set(by_name) - set(seen))
            doubled = sorted({n for n in seen if seen.count(n) > 1})
            raise ValueError(f"{self.name}/{isa}: fields missing {missing} or repeated {doubled}")
        return tuple(words)

    def field_def(self, name: str) -> FieldDef:
        """The definition of field ``name`` (KeyError if the kind has none)."""
        for fd in self.fields:
            if fd.name == name:
                return fd
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        """Field names in ISA1 layout order (word 0 first, least significant bit first)."""
        return tuple(s.name for word in self.slots["ISA1"] for s in word
                     if s.coding not in (Coding.RESERVED, Coding.HEADER))
