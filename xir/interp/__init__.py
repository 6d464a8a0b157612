"""Reference execution of a graph: every op through its reference kernel, in topological order.

The graph's dims carry batch 1; inputs may have any leading batch and every op runs on it.

This is the numerics contract executed: vaiq's test-mode model, vairun's CPU runner and the DPU
emulator are all checked against it bit for bit. Values of fixed tensors (those whose tensor carries
``fix_point``) are integer arrays; float tensors are float32 arrays. Inputs given as floats to a
``data-fix`` op are quantized with its fix position (DPU_ROUND unless the tensor says otherwise).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .. import fixpoint
from ..errors import GraphError
from ..graph import Graph, Op
from .fixed import EXECUTORS as FIXED
from .floating import EXECUTORS as FLOATING

EXECUTORS = {**FLOATING, **FIXED}


def input_ops(g: Graph) -> list[Op]:
    return [o for o in g.toposort() if o.get_type() in ("data", "data-fix")]


def output_ops(g: Graph) -> list[Op]:
    """The graph's outputs (tail ops plus declared ones, see :meth:`Graph.get_output_ops`)."""
    return g.get_output_ops()


def feed_input(op: Op, value) -> np.ndarray:
    """One graph input as the graph computes on it: float32 for `data`, integers at the fix position
    for `data-fix` (floats are quantized with DPU_ROUND unless the tensor says otherwise)."""
    t = op.get_output_tensor()
    a = np.asarray(value)
    if list(a.shape[1:]) != t.dims[1:] or a.ndim != len(t.dims) or a.shape[0] < 1:
        raise GraphError(f"input '{op.name}' expects dims {t.dims} (any batch), got {list(a.shape)}")
    if op.get_type() == "data":
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = fixpoint.qrange(int(t.get_attr("bit_width")), bool(t.get_attr("if_signed")))
        if a.size and (a.min() < lo or a.max() > hi):
            raise GraphError(f"input '{op.name}' holds integers outside [{lo}, {hi}]")
        return a
    if not np.all(np.isfinite(a)):
        raise GraphError(f"input '{op.name}' holds NaN or Inf")
    return fixpoint.quantize(a.astype(np.float64), int(t.get_attr("fix_point")), int(t.get_attr("bit_width")),
                             t.get_attr("round_mode") if t.has_attr("round_mode") else "DPU_ROUND",
                             bool(t.get_attr("if_signed")))


def run_graph(g: Graph, inputs: Mapping[str, np.ndarray], outputs: list[str] | None = None,
              keep_all: bool = False) -> dict[str, np.ndarray]:
    """Run ``g`` on ``inputs`` (keyed by data op name). Returns the graph outputs' values (or ``outputs``,
    or every op's value with ``keep_all``), keyed by op name."""
    heads = {o.name: o for o in input_ops(g)}
    missing = sorted(set(heads) - set(inputs))
    if missing:
        raise GraphError(f"graph '{g.get_name()}' needs input(s) {missing}; got {sorted(inputs)}")
    unknown = sorted(set(inputs) - set(heads))
    if unknown:
        raise GraphError(f"graph '{g.get_name()}' has no input(s) {unknown}; its inputs are {sorted(heads)}")
    want = set(outputs) if outputs is not None else {o.name for o in output_ops(g)}
    remaining = {o.name: o.get_fanout_num() for o in g.toposort()}
    vals: dict[str, np.ndarray] = {}
    result = {}
    for op in g.toposort():
        t = op.get_type()
        if t in ("data", "data-fix"):
            vals[op.name] = feed_input(op, inputs[op.name])
        elif t in ("const", "const-fix"):
            vals[op.name] = op.get_const_data()
        else:
            fn = EXECUTORS.get(t)
            if fn is None:
                raise GraphError(f"op '{op.name}' ({t}) has no reference executor")
            try:
                vals[op.name] = fn(op, vals)
            except (ValueError, OverflowError) as e:
                raise GraphError(f"op '{op.name}' ({t}): {e}") from None
        if keep_all or op.name in want:
            result[op.name] = vals[op.name]
        if not keep_all:
            for i in op.inputs:
                remaining[i.name] -= 1
                if remaining[i.name] == 0 and i.name not in want:
                    vals.pop(i.name, None)
    return result


def dequantize_value(g: Graph, name: str, value: np.ndarray) -> np.ndarray:
    """Float32 view of an op's value: fixed tensors are scaled by 2^-fix_point."""
    t = g.get_op(name).get_output_tensor()
    if t.has_attr("fix_point") and np.issubdtype(np.asarray(value).dtype, np.integer):
        return fixpoint.dequantize(value, int(t.get_attr("fix_point")))
    return np.asarray(value, dtype=np.float32)
