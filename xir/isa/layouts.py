"""The registry of instruction kinds and layout variants: opcode, word count and the ordered slots of
every kind in every variant. The two variants are data tables read by one generic codec."""

from __future__ import annotations

from . import alu, conv, dwconv, elew, end, load_save, pool
from .errors import IsaError
from .fields import Coding, Slot
from .kinddef import ISAS, KindDef

#: Every kind, in the order of the instruction table of docs/isa.md.
KIND_DEFS: dict[str, KindDef] = {
    k.name: k
    for k in (*load_save.KINDS, *conv.KINDS, *pool.KINDS, *alu.KINDS, *dwconv.KINDS, *elew.KINDS, *end.KINDS)
}
KINDS: tuple[str, ...] = tuple(KIND_DEFS)
OPCODE_OF_KIND: dict[str, int] = {k.name: k.opcode for k in KIND_DEFS.values()}
KIND_OF_OPCODE: dict[int, str] = {k.opcode: k.name for k in KIND_DEFS.values()}
assert len(KIND_OF_OPCODE) == len(KIND_DEFS), "two kinds share an opcode"


def check_isa(isa: str) -> str:
    """Return ``isa`` if it names a layout variant, else raise IsaError listing the variants."""
    if isa not in ISAS:
        raise IsaError(f"unknown instruction layout variant {isa!r}; use one of {', '.join(ISAS)}")
    return isa


def kind_def(kind: str) -> KindDef:
    """The definition of instruction kind ``kind`` (IsaError naming the kinds if unknown)."""
    try:
        return KIND_DEFS[kind]
    except KeyError:
        raise IsaError(f"unknown instruction kind {kind!r}; use one of {', '.join(KINDS)}") from None


def layout(kind: str, isa: str = "ISA1") -> tuple[tuple[Slot, ...], ...]:
    """The slots of ``kind`` in variant ``isa``, word by word, least significant bit first.

    Word 0 ends with the header slots dpdby, dpdon, opcode; ``rsv`` slots must hold zero bits.
    """
    return kind_def(kind).slots[check_isa(isa)]


def word_count(kind: str, isa: str = "ISA1") -> int:
    """Number of 32-bit words of ``kind`` in variant ``isa``."""
    return len(layout(kind, isa))


def field_names(kind: str) -> tuple[str, ...]:
    """The fields of ``kind`` (identical in every variant), in ISA1 layout order."""
    return kind_def(kind).field_names


def field_slot(kind: str, name: str, isa: str = "ISA1") -> Slot:
    """The slot of field ``name`` of ``kind`` in variant ``isa``; gives its width and allowed range."""
    for word in layout(kind, isa):
        for slot in word:
            if slot.name == name and slot.coding not in (Coding.RESERVED, Coding.HEADER):
                return slot
    raise IsaError(f"{kind} has no field {name!r}; its fields are {', '.join(field_names(kind))}")


def is_published(kind: str, isa: str = "ISA1") -> bool:
    """True when the layout of ``kind`` in ``isa`` is the published one (docs/isa.md), False when the
    project defined it."""
    return check_isa(isa) in kind_def(kind).published


def isa_for_banks(max_depth: int, bank_count: int) -> str:
    """The narrowest variant whose bank fields address every bank: ISA1 when all banks are at most
    4096 lines deep and there are at most 64 bank ids, else ISA1X (16384 lines, 128 ids)."""
    if max_depth <= 1 << 12 and bank_count <= 1 << 6:
        return "ISA1"
    if max_depth <= 1 << 14 and bank_count <= 1 << 7:
        return "ISA1X"
    raise IsaError(f"no layout variant addresses {bank_count} banks of {max_depth} lines; "
                   f"ISA1X, the widest, allows 128 banks of 16384 lines")


def activations(kind: str, isa: str = "ISA1") -> tuple[str, ...]:
    """The activation names (``ActType``) the ``act_type`` field of ``kind`` can hold, in code order:
    the one definition of which activations an engine applies."""
    from .codes import ActType
    slot = field_slot(kind, "act_type", isa)
    codes = slot.choices if slot.choices is not None else range(slot.lo, slot.hi + 1)
    return tuple(ActType(c).name for c in sorted(codes))
