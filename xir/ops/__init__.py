"""The op library: every op type the toolchain knows, with its inputs, attributes and shape rule.

One module per op family (data, conv, pool, eltwise, activation, layout) registers its definitions
in :mod:`xir.ops.registry`.
"""
from .registry import ArgDef, AttrDef, OpDef, ShapeError, get_op_def, has_op_def, op_types

__all__ = ["ArgDef", "AttrDef", "OpDef", "ShapeError", "get_op_def", "has_op_def", "op_types"]
