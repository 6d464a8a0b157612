"""Dense -> 1x1 conv: the DPU has no dense engine; an inner product over K inputs is a 1x1
convolution of a 1x1 image with K channels (weights [M, K] become [M, 1, 1, K]).

Rule: ``inner-product-fix`` with a 2-D input becomes reshape-fix [N, 1, 1, K] -> conv2d-fix ->
reshape-fix [N, M] (which takes the dense op's name, so the output tensor keeps its name); fix
positions, nonlinear and bias are unchanged, so the numbers are identical.
"""
from __future__ import annotations

from ..graph import Graph
from .fold_fix import FIX_ATTRS, _set_fix


def _fix_of(op) -> dict:
    t = op.get_output_tensor()
    return {k: t.get_attr(k) for k in FIX_ATTRS}


def conv_name(dense: str) -> str:
    """The name of the 1x1 conv that dense op ``dense`` becomes."""
    return f"{dense}_conv1x1"


def dense_to_conv(g: Graph) -> list[str]:
    log = []
    for op in [o for o in g.toposort() if o.get_type() == "inner-product-fix"]:
        x = op.get_input_op("input")
        dims = x.get_output_tensor().dims
        if len(dims) != 2:
            continue
        n, k = dims
        w_op = op.get_input_op("weights")
        m = w_op.get_output_tensor().dims[0]
        name = op.get_name()
        x4 = _set_fix(g.create_op(f"{name}_in4d", "reshape-fix", {"shape": [n, 1, 1, k]}, {"input": [x]}),
                      _fix_of(x))
        w4 = g.create_const_op(f"{w_op.get_name()}_1x1", w_op.get_const_data().reshape(m, 1, 1, k),
                               w_op.get_attr("data_type"), kind="const-fix")
        _set_fix(w4, _fix_of(w_op))
        ins = {"input": [x4], "weights": [w4]}
        if op.get_input_num("bias"):
            ins["bias"] = [op.get_input_op("bias")]
        conv = _set_fix(g.create_op(conv_name(name), "conv2d-fix",
                                    {"kernel": [1, 1], "nonlinear": op.get_attr_or_default("nonlinear")}, ins),
                        _fix_of(op))
        out = _set_fix(g.create_op(f"{name}_out2d", "reshape-fix", {"shape": [n, m]}, {"input": [conv]}),
                       _fix_of(op))
        g.replace_uses(op, out)
        g.remove_op(op)
        if not w_op.get_fanout_ops():
            g.remove_op(w_op)
        g.rename_op(out, name)  # the dense layer's output keeps its name for users and runners
        log.append(f"dense_to_conv: {name} ({k} -> {m}) is a 1x1 conv")
    return log
