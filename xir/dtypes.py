"""Tensor data types: XIR's names (``xint8``, ``float32`` ...), the wire enum and bit width, numpy.

The wire form is the ``data_type`` enum of graph_proto_v2 (INT 0, UINT 1, XINT 2, XUINT 3, FLOAT 4,
BFLOAT 5, UNKNOWN 6) plus ``tensor_bit_width``. ``xint``/``xuint`` are fixed-point integers whose
real value is ``q * 2^-fix_point`` (the tensor attribute ``fix_point`` carries the position).
"""
from __future__ import annotations

import re

import numpy as np

from .errors import XirError

DATA_TYPE_ENUM = {"int": 0, "uint": 1, "xint": 2, "xuint": 3, "float": 4, "bfloat": 5, "unknown": 6}
_ENUM_NAME = {v: k for k, v in DATA_TYPE_ENUM.items()}
_NAME_RE = re.compile(r"^(int|uint|xint|xuint|float|bfloat|unknown)(\d*)$")


def parse_dtype(name: str) -> tuple[str, int]:
    """Split a dtype name into (kind, bit width): ``"xint8" -> ("xint", 8)``."""
    m = _NAME_RE.match(str(name).lower())
    if not m or (m.group(1) != "unknown" and not m.group(2)):
        raise XirError(
            f"unknown data type {name!r}; use one of int8/int32/uint8/xint8/xuint8/float32/bfloat16"
        )
    kind, bits = m.group(1), int(m.group(2) or 0)
    if kind != "unknown" and not 1 <= bits <= 64:
        raise XirError(f"data type {name!r} has an impossible bit width {bits}")
    return kind, bits


def normalize_dtype(name: str) -> str:
    """Canonical lower-case spelling of a dtype name (validated)."""
    kind, bits = parse_dtype(name)
    return kind if kind == "unknown" else f"{kind}{bits}"


def dtype_to_wire(name: str) -> tuple[int, int]:
    """``(data_type enum, tensor_bit_width)`` of a dtype name."""
    kind, bits = parse_dtype(name)
    return DATA_TYPE_ENUM[kind], bits


def dtype_from_wire(enum_value: int, bit_width: int) -> str:
    """dtype name of a wire ``(data_type, tensor_bit_width)`` pair."""
    kind = _ENUM_NAME.get(int(enum_value))
    if kind is None:
        raise XirError(f"tensor data_type {enum_value} is not one of {sorted(_ENUM_NAME)}")
    return "unknown" if kind == "unknown" else f"{kind}{int(bit_width)}"


def is_fixed(name: str) -> bool:
    """True for the fixed-point kinds (xint/xuint) whose tensors carry a fix_point."""
    return parse_dtype(name)[0] in ("xint", "xuint")


def is_float(name: str) -> bool:
    return parse_dtype(name)[0] in ("float", "bfloat")


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype that holds one element (xint8 -> int8, xint4 -> int8, float32 -> float32)."""
    kind, bits = parse_dtype(name)
    if kind in ("float", "bfloat"):
        return np.dtype({16: np.float16, 32: np.float32, 64: np.float64}.get(bits, np.float32)
                        if kind == "float" else np.float32)
    if kind == "unknown":
        raise XirError("a tensor of unknown data type has no numpy dtype")
    signed = kind in ("int", "xint")
    for width in (8, 16, 32, 64):
        if bits <= width:
            return np.dtype(f"{'int' if signed else 'uint'}{width}")
    raise XirError(f"no numpy dtype holds {name}")


def dtype_of_numpy(dt) -> str:
    """XIR dtype name of a numpy dtype (plain ints map to ``int``, not ``xint``)."""
    dt = np.dtype(dt)
    if dt.kind == "f":
        return f"float{dt.itemsize * 8}"
    if dt.kind == "i":
        return f"int{dt.itemsize * 8}"
    if dt.kind == "u":
        return f"uint{dt.itemsize * 8}"
    if dt.kind == "b":
        return "uint8"
    raise XirError(f"numpy dtype {dt} has no XIR data type")
