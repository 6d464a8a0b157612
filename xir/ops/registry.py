"""Op definitions: the rule that every op type is registered with its inputs, attributes and shape rule.

An :class:`OpDef` names the op type (XIR spelling, e.g. ``conv2d-fix``), its input arguments with how
often each may occur, its attributes with declared types and defaults, and a shape function that
derives the output tensor's dims and data type from the inputs. The graph model uses it to create,
validate and re-infer ops; the .xmodel writer stores the definitions in ``Graph.op_defs``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..attrs import coerce
from ..errors import OpDefError

ARG_OCCUR = {"REQUIRED": 0, "OPTIONAL": 1, "REPEATED": 2, "REQUIRED_AND_REPEATED": 3}
ATTR_OCCUR = {"REQUIRED": 0, "OPTIONAL": 1}


class ShapeError(Exception):
    """Raised by a shape function; the graph model adds the op name and re-raises as OpDefError."""


@dataclass(frozen=True)
class ArgDef:
    name: str
    occur: str = "REQUIRED"
    dtype: str = "float32"
    annotation: str = ""

    def count_ok(self, n: int) -> bool:
        return {"REQUIRED": n == 1, "OPTIONAL": n <= 1, "REPEATED": True,
                "REQUIRED_AND_REPEATED": n >= 1}[self.occur]


@dataclass(frozen=True)
class AttrDef:
    name: str
    atype: str
    required: bool = False
    default: Any = None
    list_length: int = 0
    annotation: str = ""
    choices: tuple = ()


@dataclass(frozen=True)
class OpDef:
    name: str
    args: tuple[ArgDef, ...]
    attrs: tuple[AttrDef, ...]
    infer: Callable[[Any], tuple[list[int], str]]
    annotation: str = ""
    _attr_index: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        self._attr_index.update({a.name: a for a in self.attrs})

    def arg(self, name: str) -> ArgDef | None:
        return next((a for a in self.args if a.name == name), None)

    def attr(self, name: str) -> AttrDef | None:
        return self._attr_index.get(name)

    def check_attr(self, name: str, value: Any) -> Any:
        """Coerce ``value`` to the declared type of attribute ``name`` and check its length/choices."""
        d = self.attr(name)
        if d is None:
            return value
        v = coerce(value, d.atype)
        if d.list_length and len(v) != d.list_length:
            raise OpDefError(f"attribute '{name}' of {self.name} needs {d.list_length} values, got {len(v)}")
        if d.choices and v not in d.choices:
            raise OpDefError(f"attribute '{name}' of {self.name} must be one of {list(d.choices)}, got {v!r}")
        return v


_REGISTRY: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    if opdef.name in _REGISTRY:
        raise OpDefError(f"op type {opdef.name!r} is registered twice")
    _REGISTRY[opdef.name] = opdef
    return opdef


def get_op_def(op_type: str) -> OpDef:
    """The definition of ``op_type``; an unknown type raises OpDefError listing the known ones."""
    _load_library()
    d = _REGISTRY.get(op_type)
    if d is None:
        raise OpDefError(f"unknown op type {op_type!r}; known op types: {', '.join(sorted(_REGISTRY))}")
    return d


def has_op_def(op_type: str) -> bool:
    _load_library()
    return op_type in _REGISTRY


def op_types() -> list[str]:
    _load_library()
    return sorted(_REGISTRY)


def define(name: str, args, attrs, infer, annotation: str = "") -> OpDef:
    """Shorthand used by the op-family modules: ``args`` as ArgDefs or plain names (REQUIRED)."""
    args = tuple(a if isinstance(a, ArgDef) else ArgDef(a) for a in args)
    return register(OpDef(name, args, tuple(attrs), infer, annotation))


_loaded = False


def _load_library() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from . import activation, conv, data, eltwise, layout, pool  # noqa: F401  (registers)


# ---- serialisation of definitions (Graph.op_defs) -------------------------------------------

def opdef_to_proto(d: OpDef, msg) -> None:
    from ..attrs import to_proto
    from ..dtypes import dtype_to_wire

    msg.name = d.name
    msg.annotation = d.annotation
    for a in d.args:
        m = msg.input_args.add()
        m.name = a.name
        m.occur_type = ARG_OCCUR[a.occur]
        m.data_type = dtype_to_wire(a.dtype)[0]
        m.annotation = a.annotation
    for a in d.attrs:
        m = msg.attrs.add()
        m.name = a.name
        m.occur_type = ATTR_OCCUR["REQUIRED" if a.required else "OPTIONAL"]
        m.list_length = a.list_length
        m.annotation = a.annotation
        if a.default is not None:
            to_proto(a.atype, coerce(a.default, a.atype), m.default_value)
        else:
            # XIR requires a typed default; an empty value of the declared type records the type.
            to_proto(a.atype, coerce(_empty_of(a.atype), a.atype), m.default_value)


def _empty_of(atype: str):
    if atype.startswith("map<"):
        return {}
    if atype.endswith("[]"):
        return []
    return {"bool": False, "string": "", "bytes": b"", "float": 0.0, "double": 0.0}.get(atype, 0)
