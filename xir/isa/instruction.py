"""The Instruction value and :func:`make`, the checked way to build one.

An instruction holds LOGICAL field values (a ``length`` of 8 means 8 pixels, a ``shift_bias`` may be
negative); the codec turns them into bits. Every field of the kind is always present: fields not
given take their default, the value that encodes as zero bits (1 for minus-one fields, else 0).
``comment`` and ``layer`` are annotations for listings; they are not encoded and not compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral
from typing import Iterable

from .engines import Engine, engine_of, engines_mask
from .errors import IsaError
from .fields import default_value
from .layouts import kind_def


@dataclass
class Instruction:
    """One DPU instruction: kind, field values, dependency nibbles (see :mod:`xir.isa.engines`)."""

    kind: str
    fields: dict[str, int] = field(default_factory=dict)
    dpdon: int = 0
    dpdby: int = 0
    comment: str | None = field(default=None, compare=False)
    layer: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        kd = kind_def(self.kind)
        if not isinstance(self.fields, dict):
            raise IsaError(f"{self.kind} fields must be a dict of name -> int, got {type(self.fields).__name__}")
        names = kd.field_names
        unknown = [n for n in self.fields if n not in names]
        if unknown:
            raise IsaError(f"{self.kind} has no field {unknown[0]!r}; its fields are "
                           f"{', '.join(names) if names else '(none)'}")
        given = self.fields
        filled = {}
        for fd_name in names:
            if fd_name in given:
                filled[fd_name] = _as_int(self.kind, fd_name, given[fd_name])
            else:
                filled[fd_name] = default_value(kd.field_def(fd_name).coding)
        self.fields = filled
        self.dpdon = _as_int(self.kind, "dpdon", self.dpdon)
        self.dpdby = _as_int(self.kind, "dpdby", self.dpdby)

    @classmethod
    def _trusted(cls, kind: str, fields: dict[str, int], dpdon: int, dpdby: int) -> "Instruction":
        """Build without checks (the decoder's fast path: its fields are complete and in order)."""
        obj = cls.__new__(cls)
        obj.kind, obj.fields, obj.dpdon, obj.dpdby = kind, fields, dpdon, dpdby
        obj.comment = obj.layer = None
        return obj

    @property
    def engine(self) -> Engine | None:
        """The engine that executes this instruction (None for END)."""
        return engine_of(self.kind)

    def __getitem__(self, name: str) -> int:
        try:
            return self.fields[name]
        except KeyError:
            raise IsaError(f"{self.kind} has no field {name!r}; its fields are "
                           f"{', '.join(self.fields) or '(none)'}") from None

    def with_fields(self, **changes: int) -> "Instruction":
        """A copy with some fields changed (same kind, dependencies and annotations)."""
        return Instruction(self.kind, {**self.fields, **changes}, self.dpdon, self.dpdby,
                           self.comment, self.layer)


def _as_int(kind: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise IsaError(f"{kind} field {name!r} must be an integer, got {value!r}")
    return int(value)


def _mask(value: int | Iterable) -> int:
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, (str, Engine)):
        value = [value]
    return engines_mask(value)


def make(kind: str, *, dpdon: int | Iterable = 0, dpdby: int | Iterable = 0, comment: str | None = None,
         layer: str | None = None, **fields: int) -> Instruction:
    """Build an instruction of ``kind``; unknown field names raise IsaError, missing ones take their
    default. ``dpdon``/``dpdby`` are nibbles or iterables of engines (``dpdby=["CONV"]``)."""
    return Instruction(kind, fields, _mask(dpdon), _mask(dpdby), comment, layer)
