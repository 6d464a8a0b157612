"""END: the last instruction of a stream; the header alone. The stream is finished when every
engine has completed all its instructions."""

from __future__ import annotations

from .kinddef import KindDef

END = KindDef(
    name="END",
    opcode=0x7,
    summary="End of the instruction stream.",
    fields=(),
    tables={"ISA1": (("rsv:20",),), "ISA1X": (("rsv:20",),)},
    published=frozenset({"ISA1"}),
)

KINDS = (END,)
