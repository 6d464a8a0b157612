"""The four engines, the engine each instruction kind runs on, and the dependency nibbles.

Word 0 of every instruction carries two 4-bit masks with one bit per engine (bit i = ``Engine(i)``):

* ``dpdby`` (depended by): when the instruction COMPLETES it signals one token on the channel
  (its own engine -> e) for every bit e set.
* ``dpdon`` (depends on): before the instruction STARTS it waits for, and consumes, one token on the
  channel (e -> its own engine) for every bit e set.

Channels are counting FIFOs (one counter per ordered engine pair, unbounded). An instruction's own
engine bit must be clear in both masks, and END carries no dependency bits.
"""

from __future__ import annotations

from enum import IntEnum

from .errors import IsaError


class Engine(IntEnum):
    """The engines; the value is the bit of the engine in a dependency nibble."""

    LOAD = 0
    SAVE = 1
    CONV = 2
    MISC = 3


#: The engine of every instruction kind (END runs on no engine).
ENGINE_OF_KIND: dict[str, Engine | None] = {
    "LOAD": Engine.LOAD,
    "SAVE": Engine.SAVE,
    "CONVINIT": Engine.CONV,
    "CONV": Engine.CONV,
    "POOLINIT": Engine.MISC,
    "POOL": Engine.MISC,
    "ALUINIT": Engine.MISC,
    "ALU": Engine.MISC,
    "DWINIT": Engine.MISC,
    "DPTWISE": Engine.MISC,
    "ELEWINIT": Engine.MISC,
    "ELEW": Engine.MISC,
    "END": None,
}


def engine_of(kind: str) -> Engine | None:
    """The engine that executes ``kind`` (None for END); unknown kinds raise IsaError."""
    try:
        return ENGINE_OF_KIND[kind]
    except KeyError:
        raise IsaError(f"unknown instruction kind {kind!r}; use one of {', '.join(ENGINE_OF_KIND)}") from None


def engines_mask(engines) -> int:
    """The nibble with one bit set per engine in ``engines`` (Engine members or their names)."""
    mask = 0
    for e in engines:
        e = Engine[e] if isinstance(e, str) else Engine(e)
        mask |= 1 << e
    return mask


def mask_engines(mask: int) -> tuple[Engine, ...]:
    """The engines whose bits are set in a dependency nibble, in bit order."""
    if not 0 <= mask <= 0xF:
        raise IsaError(f"dependency mask {mask!r} is not a 4-bit value; use 0..15")
    return tuple(e for e in Engine if mask >> e & 1)


def format_mask(mask: int) -> str:
    """Text form of a nibble for listings: engine names joined by ``|``, or ``-`` when empty."""
    engines = mask_engines(mask)
    return "|".join(e.name for e in engines) if engines else "-"


def parse_mask(text: str) -> int:
    """Inverse of :func:`format_mask`; also accepts a plain integer 0..15."""
    text = text.strip()
    if text in ("-", ""):
        return 0
    if text.lstrip("-").isdigit() or text.lower().startswith("0x"):
        value = int(text, 0)
        mask_engines(value)
        return value
    try:
        return engines_mask(part.strip().upper() for part in text.split("|"))
    except KeyError as exc:
        raise IsaError(f"unknown engine {exc.args[0]!r} in dependency mask {text!r}; "
                       f"use {', '.join(e.name for e in Engine)} joined by '|'") from None


def allowed_mask_bits(kind: str) -> int:
    """The dependency bits ``kind`` may set: every engine but its own; none for END."""
    engine = engine_of(kind)
    if engine is None:
        return 0
    return 0xF & ~(1 << engine)
