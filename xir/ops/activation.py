"""Activations and normalising ops: relu, relu6, leaky-relu, prelu, hard-sigmoid, hard-swish, sigmoid,
tanh, softmax, and the fixed hard-sigmoid-fix.

Rule: the output keeps the input's dims; softmax needs an axis inside the input's rank.
"""
from __future__ import annotations

from ._shape import attr, fixed_dtype, norm_axis, one
from .registry import AttrDef, ShapeError, define


def _same(op):
    t = one(op, "input")
    return list(t.dims), "float32"


def _prelu(op):
    t = one(op, "input")
    a = one(op, "alpha")
    if list(a.dims) not in ([1], [t.dims[-1]]):
        raise ShapeError(f"prelu alpha dims {list(a.dims)} must be [1] or [{t.dims[-1]}]")
    return list(t.dims), "float32"


def _softmax(op):
    t = one(op, "input")
    norm_axis(attr(op, "axis"), len(t.dims))
    return list(t.dims), "float32"


define("relu", ["input"], [], _same, "max(x, 0)")
define("relu6", ["input"], [], _same, "min(max(x, 0), 6)")
define("leaky-relu", ["input"], [AttrDef("alpha", "float", False, 0.01)], _same,
       "x if x >= 0 else alpha * x (the DPU uses alpha = 26/256)")
define("prelu", ["input", "alpha"], [], _prelu, "x if x >= 0 else alpha[c] * x")
define("hard-sigmoid", ["input"], [], _same, "relu6(x + 3) / 6 (DPU: relu6(x + 3) * 2731 / 2^14)")
define("hard-swish", ["input"], [], _same, "x * hard-sigmoid(x)")
define("sigmoid", ["input"], [], _same, "1 / (1 + exp(-x))")
define("tanh", ["input"], [], _same, "hyperbolic tangent")
define("softmax", ["input"], [AttrDef("axis", "int32", False, -1)], _softmax, "softmax along axis")
define("hard-sigmoid-fix", ["input"], [], lambda op: (list(one(op, "input").dims), fixed_dtype(op)),
       "fixed-point hard-sigmoid: relu6(x + 3) * 2731 / 2^14")
