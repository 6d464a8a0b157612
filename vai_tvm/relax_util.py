"""Small readers of Relax expressions shared by the partitioner and the ONNX writer."""
from __future__ import annotations

import numpy as np
import tvm
from tvm import relax


def shape_of(e) -> tuple[int, ...]:
    """The static shape of a tensor-typed expression; TypeError when it has none (an unknown shape, as the
    importer gives a concat of split outputs, or a symbolic dimension): the partitioner leaves such a match
    to TVM's CPU build."""
    shape = getattr(e.ty, "shape", None)
    if shape is None or not hasattr(shape, "values"):
        raise TypeError(f"{e} has no static shape")
    return tuple(int(v) for v in shape.values)


def dtype_of(e) -> str:
    return str(e.ty.dtype)


def op_name(e) -> str | None:
    """The operator name of a call to a Relax op (``relax.nn.conv2d``), else None."""
    if isinstance(e, tvm.ir.Call) and isinstance(e.op, tvm.ir.Op):
        return e.op.name
    return None


def const_value(e, var2val=None) -> np.ndarray | None:
    """The value of a constant, or of a reshape / transpose of one (as the importer writes biases and
    Gemm weights), or of ``where`` / ``isnan`` of constants (as it writes Clip bounds), else None;
    ``var2val`` resolves variables bound to such values."""
    if var2val is not None and isinstance(e, relax.Var) and e in var2val:
        return const_value(var2val[e], var2val)
    if isinstance(e, tvm.ir.GenericConst):
        return e.value.numpy()
    name = op_name(e)
    if name == "relax.reshape":
        v = const_value(e.args[0], var2val)
        return None if v is None else v.reshape(shape_of(e))
    if name == "relax.isnan":             # the importer's guard of a Clip bound: where(isnan(b), inf, b)
        v = const_value(e.args[0], var2val)
        return None if v is None else np.isnan(v)
    if name == "relax.where":
        vs = [const_value(a, var2val) for a in e.args]
        return None if any(v is None for v in vs) else np.where(*vs)
    if name == "relax.permute_dims":
        v = const_value(e.args[0], var2val)
        if v is None:
            return None
        axes = e.attrs.axes
        return np.ascontiguousarray(np.transpose(v, None if axes is None else [int(a) for a in axes]))
    return None


def scalar_value(e, var2val=None) -> float | None:
    """The value of a one-element constant (:func:`const_value`), else None."""
    v = const_value(e, var2val)
    return float(v.reshape(())) if v is not None and v.size == 1 else None


def clip_bounds(call) -> tuple[float, float]:
    """``(min, max)`` of a ``relax.clip`` call (its bounds are scalar prim values)."""
    return float(call.args[1].value), float(call.args[2].value)
