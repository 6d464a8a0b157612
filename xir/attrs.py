"""Typed attribute values: the rule that every attribute carries one of the XIR AttrValue types.

An attribute is stored as ``(type_name, value)``. The type names mirror the oneof members of
``AttrValue`` in graph_proto_v2 (``int32``, ``double``, ``int32[]``, ``map<string,int32[]>`` ...), so
an attribute written and read back keeps both its value and its wire type. Python values are mapped
to a type by :func:`infer_type`; op definitions declare the type of their own attributes and
:func:`coerce` converts and range-checks a value against it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import AttrError

SCALAR_TYPES = ("bool", "int32", "uint32", "int64", "uint64", "float", "double", "string", "bytes")
VECTOR_TYPES = tuple(t + "[]" for t in SCALAR_TYPES)
MAP_TYPES = (
    "map<string,int32>", "map<string,uint32>", "map<string,int64>", "map<string,uint64>",
    "map<string,string>", "map<string,bytes>", "map<string,int32[]>", "map<string,uint32[]>",
    "map<string,int64[]>", "map<string,uint64[]>", "map<string,string[]>",
)
ATTR_TYPES = SCALAR_TYPES + VECTOR_TYPES + MAP_TYPES

_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_float(v: Any) -> bool:
    return isinstance(v, (float, np.floating))


def _int_type_for(values) -> str:
    lo = min(values, default=0)
    hi = max(values, default=0)
    return "int32" if _INT_RANGES["int32"][0] <= lo and hi <= _INT_RANGES["int32"][1] else "int64"


def infer_type(value: Any) -> str:
    """Pick the AttrValue type of a Python value: bool, int32 (int64 when it does not fit), double,
    string, bytes, vectors of these, and string-keyed maps."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if _is_int(value):
        return _int_type_for([int(value)])
    if _is_float(value):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytes"
    if isinstance(value, np.ndarray):
        if value.dtype == np.bool_:
            return "bool[]"
        if np.issubdtype(value.dtype, np.integer):
            return {np.dtype(np.uint32): "uint32[]", np.dtype(np.uint64): "uint64[]",
                    np.dtype(np.int64): "int64[]"}.get(value.dtype, "int32[]")
        if value.dtype == np.float32:
            return "float[]"
        if np.issubdtype(value.dtype, np.floating):
            return "double[]"
        raise AttrError(f"cannot store a numpy array of dtype {value.dtype} as an attribute")
    if isinstance(value, (list, tuple)):
        if not value:
            return "int32[]"
        if all(isinstance(v, (bool, np.bool_)) for v in value):
            return "bool[]"
        if all(_is_int(v) for v in value):
            return _int_type_for([int(v) for v in value]) + "[]"
        if all(_is_int(v) or _is_float(v) for v in value):
            return "double[]"
        if all(isinstance(v, str) for v in value):
            return "string[]"
        if all(isinstance(v, (bytes, bytearray)) for v in value):
            return "bytes[]"
        raise AttrError(f"cannot store a mixed list as an attribute: {value!r:.80}")
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise AttrError("attribute maps must have string keys")
        vals = list(value.values())
        if not vals:
            return "map<string,string>"
        if all(isinstance(v, str) for v in vals):
            return "map<string,string>"
        if all(isinstance(v, (bytes, bytearray)) for v in vals):
            return "map<string,bytes>"
        if all(_is_int(v) for v in vals):
            return f"map<string,{_int_type_for([int(v) for v in vals])}>"
        if all(isinstance(v, (list, tuple, np.ndarray)) for v in vals):
            flat = [x for v in vals for x in v]
            if all(isinstance(x, str) for x in flat) and flat:
                return "map<string,string[]>"
            if all(_is_int(x) for x in flat):
                return f"map<string,{_int_type_for([int(x) for x in flat])}[]>"
        raise AttrError(f"cannot store this map as an attribute: {value!r:.80}")
    raise AttrError(f"cannot store a value of type {type(value).__name__} as an attribute")


def _coerce_scalar(value: Any, atype: str) -> Any:
    if atype == "bool":
        if isinstance(value, (bool, np.bool_)) or (_is_int(value) and int(value) in (0, 1)):
            return bool(value)
        raise AttrError(f"expected a bool, got {value!r:.60}")
    if atype in _INT_RANGES:
        if not _is_int(value) and not (_is_float(value) and float(value).is_integer()):
            if isinstance(value, (bool, np.bool_)):
                return int(value)
            raise AttrError(f"expected an integer for {atype}, got {value!r:.60}")
        v = int(value)
        lo, hi = _INT_RANGES[atype]
        if not lo <= v <= hi:
            raise AttrError(f"{v} does not fit {atype} [{lo}, {hi}]")
        return v
    if atype in ("float", "double"):
        if not (_is_int(value) or _is_float(value)) or isinstance(value, (bool, np.bool_)):
            raise AttrError(f"expected a number for {atype}, got {value!r:.60}")
        v = float(value)
        if atype == "float" and math.isfinite(v):
            v = float(np.float32(v))
        return v
    if atype == "string":
        if not isinstance(value, str):
            raise AttrError(f"expected a string, got {value!r:.60}")
        return value
    if atype == "bytes":
        if isinstance(value, np.ndarray):
            return value.tobytes()
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise AttrError(f"expected bytes, got {type(value).__name__}")
        return bytes(value)
    raise AttrError(f"unknown attribute type {atype!r}")


_PLAIN_INT = {int}


def coerce(value: Any, atype: str) -> Any:
    """Convert ``value`` to the canonical Python form of ``atype`` (ints, floats, str, bytes, lists,
    dicts sorted by key), raising AttrError when it does not fit."""
    if atype not in ATTR_TYPES:
        raise AttrError(f"unknown attribute type {atype!r}; known: {', '.join(ATTR_TYPES)}")
    if atype in SCALAR_TYPES:
        return _coerce_scalar(value, atype)
    if atype in VECTOR_TYPES:
        if isinstance(value, np.ndarray):
            value = value.reshape(-1).tolist()
        if not isinstance(value, (list, tuple)):
            raise AttrError(f"expected a list for {atype}, got {type(value).__name__}")
        rng = _INT_RANGES.get(atype[:-2])
        if rng is not None and set(map(type, value)) <= _PLAIN_INT and (
                not value or (rng[0] <= min(value) and max(value) <= rng[1])):
            return list(value)   # plain in-range ints are canonical already (the common, hot case)
        return [_coerce_scalar(v, atype[:-2]) for v in value]
    # map<string,T>
    if not isinstance(value, dict):
        raise AttrError(f"expected a dict for {atype}, got {type(value).__name__}")
    inner = atype[len("map<string,"):-1]
    out = {}
    for k in sorted(value):
        if not isinstance(k, str):
            raise AttrError(f"{atype} keys must be strings, got {k!r}")
        out[k] = coerce(value[k], inner) if inner.endswith("[]") else _coerce_scalar(value[k], inner)
    return out


# ---- protobuf mapping -------------------------------------------------------------------------

_ONEOF_OF_TYPE = {
    "bool": "bool_value", "int32": "int32_value", "uint32": "uint32_value", "int64": "int64_value",
    "uint64": "uint64_value", "float": "float_value", "double": "double_value",
    "string": "string_value", "bytes": "bytes_value",
    "bool[]": "bool_vec_value", "int32[]": "int32_vec_value", "uint32[]": "uint32_vec_value",
    "int64[]": "int64_vec_value", "uint64[]": "uint64_vec_value", "float[]": "float_vec_value",
    "double[]": "double_vec_value", "string[]": "string_vec_value", "bytes[]": "bytes_vec_value",
    "map<string,int32>": "map_string_2_int32_value", "map<string,uint32>": "map_string_2_uint32_value",
    "map<string,int64>": "map_string_2_int64_value", "map<string,uint64>": "map_string_2_uint64_value",
    "map<string,string>": "map_string_2_string_value", "map<string,bytes>": "map_string_2_bytes_value",
    "map<string,int32[]>": "map_string_2_int32_vec_value",
    "map<string,uint32[]>": "map_string_2_uint32_vec_value",
    "map<string,int64[]>": "map_string_2_int64_vec_value",
    "map<string,uint64[]>": "map_string_2_uint64_vec_value",
    "map<string,string[]>": "map_string_2_string_vec_value",
}
_TYPE_OF_ONEOF = {v: k for k, v in _ONEOF_OF_TYPE.items()}


def to_proto(atype: str, value: Any, msg) -> None:
    """Fill an ``AttrValue`` message from a typed value."""
    field = _ONEOF_OF_TYPE[atype]
    if atype in SCALAR_TYPES:
        setattr(msg, field, value)
    elif atype in VECTOR_TYPES:
        getattr(msg, field).value.extend(value)
    elif atype.endswith("[]>"):
        target = getattr(msg, field).value
        for k, vec in value.items():
            target[k].value.extend(vec)
    else:
        getattr(msg, field).value.update(value)


def from_proto(msg) -> tuple[str, Any]:
    """Read ``(type, value)`` from an ``AttrValue`` message; an unset oneof raises AttrError."""
    field = msg.WhichOneof("value")
    if field is None:
        raise AttrError("attribute value has no type set")
    atype = _TYPE_OF_ONEOF[field]
    raw = getattr(msg, field)
    if atype in SCALAR_TYPES:
        return atype, raw
    if atype in VECTOR_TYPES:
        return atype, list(raw.value)
    if atype.endswith("[]>"):
        return atype, {k: list(raw.value[k].value) for k in sorted(raw.value)}
    return atype, {k: raw.value[k] for k in sorted(raw.value)}
