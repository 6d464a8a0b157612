"""Data-carrying ops: graph inputs, constants, fix (quantize) ops and device boundaries.

Rule: ``data``/``const`` take their dims from the ``shape`` attribute; a ``const`` holds its raw
little-endian element bytes in ``data`` (``shape`` x ``data_type`` must match its length); ``fix``
and ``float2fix`` turn a float tensor into an xint/xuint tensor of ``bit_width`` bits at ``fix_point``;
``fix2float``, ``upload``, ``download`` and ``identity`` keep the dims.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import normalize_dtype, numpy_dtype
from ._shape import attr, one
from .registry import AttrDef, ShapeError, define

ROUND_MODES = ("DPU_ROUND", "STD_ROUND", "PY3_ROUND")

_SHAPE = AttrDef("shape", "int32[]", True, annotation="dims of the tensor, NHWC for images")
_DTYPE = AttrDef("data_type", "string", True, annotation="xint8, float32, int32 ...")


def _checked_shape(op):
    shape = list(attr(op, "shape"))
    if any(d < 0 for d in shape):
        raise ShapeError(f"shape {shape} has a negative dimension")
    return shape


def _data(op):
    return _checked_shape(op), normalize_dtype(attr(op, "data_type"))


def _const(op):
    shape, dtype = _data(op)
    if op.has_attr("data"):
        n = int(np.prod(shape, dtype=np.int64))
        size = len(op.get_attr("data"))
        want = n * numpy_dtype(dtype).itemsize
        if size != want:
            raise ShapeError(f"const data holds {size} bytes, shape {shape} of {dtype} needs {want}")
    return shape, dtype


_FIX_ATTRS = [
    AttrDef("fix_point", "int32", True, annotation="value = q * 2^-fix_point"),
    AttrDef("bit_width", "int32", False, 8),
    AttrDef("round_mode", "string", False, "DPU_ROUND", choices=ROUND_MODES),
    AttrDef("if_signed", "bool", False, True),
]


def _fix(op):
    bw = attr(op, "bit_width")
    if not 2 <= bw <= 16:
        raise ShapeError(f"bit_width {bw} is outside 2..16")
    return list(one(op, "input").dims), f"{'xint' if attr(op, 'if_signed') else 'xuint'}{bw}"


def _same(op):
    t = one(op, "input")
    return list(t.dims), t.dtype


def _to_float(op):
    return list(one(op, "input").dims), "float32"


define("data", [], [_SHAPE, _DTYPE], _data, "graph input")
define("const", [], [_SHAPE, _DTYPE, AttrDef("data", "bytes", False)], _const,
       "constant tensor; data holds the raw little-endian elements")
define("data-fix", [], [_SHAPE, _DTYPE], _data, "fixed-point graph input of a compiled model")
define("const-fix", [], [_SHAPE, _DTYPE, AttrDef("data", "bytes", False)], _const,
       "fixed-point constant of a compiled model")
define("fix", ["input"], _FIX_ATTRS, _fix, "quantize to bit_width bits at fix_point (deploy graph)")
define("float2fix", ["input"], _FIX_ATTRS, _fix, "float to fixed point at a CPU/DPU boundary")
define("fix2float", ["input"], [], _to_float, "fixed point to float at a DPU/CPU boundary")
define("upload", ["input"], [], _same, "host to DPU boundary")
define("download", ["input"], [], _same, "DPU to host boundary")
define("identity", ["input"], [], _same, "pass-through")
