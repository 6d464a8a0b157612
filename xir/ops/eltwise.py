"""Element-wise ops with numpy broadcasting: add, sub, mul, div, max, min and the fixed eltwise-fix.

Rule: two or more inputs whose dims broadcast; the output has the broadcast dims.
"""
from __future__ import annotations

from ._shape import NONLINEARS, broadcast, fixed_dtype
from .registry import ArgDef, AttrDef, ShapeError, define

_INPUTS = [ArgDef("input", "REQUIRED_AND_REPEATED")]


def _eltwise(op, fixed=False):
    ins = op.get_input_tensors("input")
    if len(ins) < 2:
        raise ShapeError(f"needs at least two inputs, has {len(ins)}")
    return broadcast([t.dims for t in ins]), fixed_dtype(op) if fixed else "float32"


for _name in ("add", "sub", "mul", "div", "max", "min"):
    define(_name, _INPUTS, [], _eltwise, f"element-wise {_name} with broadcasting")

define("eltwise-fix", _INPUTS,
       [AttrDef("type", "string", False, "ADD", choices=("ADD", "MUL")),
        AttrDef("nonlinear", "string", False, "NONE", choices=NONLINEARS)],
       lambda op: _eltwise(op, True), "fixed-point element-wise ADD or MUL with fused activation")
