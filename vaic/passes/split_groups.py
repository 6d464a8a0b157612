"""Grouped convolution -> pieces the CONV engine runs (xir.target.placement.groups_per_piece).

Rule: a ``conv2d-fix`` with ``1 < group`` that the target's rules place on the DPU becomes ``P``
plain convs, piece ``p`` covering ``k`` consecutive groups: it reads its input channels through a
``strided_slice`` of the input (a view of the same DDR bytes on the DPU), has block-diagonal weights
``[k * Cout/g, kh, kw, k * Cin/g]`` (zero between groups, so every sum is the grouped conv's exact
sum) and the matching biases, and the pieces' outputs are concatenated on channels in place. The
concat takes the grouped conv's name, so its output tensor keeps its name. When one piece covers
every group no slice or concat is needed: the conv keeps its name with dense block-diagonal weights.
Fix positions, padding, strides and the fused activation are unchanged, so the numbers are too.
"""
from __future__ import annotations

import numpy as np

import xir
from xir.target import Target
from xir.target.placement import groups_per_piece, misfit
from xir.transforms.fold_fix import FIX_ATTRS, _set_fix

from xir.target.describe import describe_op


def _fix_of(op: xir.Op) -> dict:
    t = op.get_output_tensor()
    return {k: t.get_attr(k) for k in FIX_ATTRS}


def _const_like(g: xir.Graph, src: xir.Op, name: str, data: np.ndarray) -> xir.Op:
    c = g.create_const_op(name, np.ascontiguousarray(data), src.get_attr("data_type"), kind="const-fix")
    return _set_fix(c, _fix_of(src))


def block_diagonal(w: np.ndarray, groups: int) -> np.ndarray:
    """Grouped weights ``[Cout, kh, kw, Cin/groups]`` as the dense ``[Cout, kh, kw, Cin]`` weights of
    the same convolution: group ``j``'s block sits at output rows and input columns ``j``."""
    cout, kh, kw, cin_g = w.shape
    cout_g = cout // groups
    out = np.zeros((cout, kh, kw, cin_g * groups), dtype=w.dtype)
    for j in range(groups):
        out[j * cout_g:(j + 1) * cout_g, :, :, j * cin_g:(j + 1) * cin_g] = w[j * cout_g:(j + 1) * cout_g]
    return out


def split_groups(g: xir.Graph, t: Target) -> list[str]:
    """Rewrite every grouped conv the target runs (module rule); returns a log line per conv."""
    log = []
    for op in [o for o in g.toposort() if o.get_type() == "conv2d-fix"]:
        groups = int(op.get_attr_or_default("group"))
        if groups <= 1 or misfit(describe_op(op), t) is not None:
            continue
        w_op = op.get_input_op("weights")
        b_op = op.get_input_op("bias") if op.get_input_num("bias") else None
        w = w_op.get_const_data()
        bias = b_op.get_const_data() if b_op is not None else None
        cout, _, _, cin_g = w.shape
        cout_g = cout // groups
        k = groups_per_piece(groups, cin_g, t.icp)
        name = op.get_name()
        attrs = {key: v for key, v in op.get_attrs().items() if key != "group"}
        x = op.get_input_op("input")
        pieces = []
        for p, g0 in enumerate(range(0, groups, k)):
            n = min(k, groups - g0)
            rows = slice(g0 * cout_g, (g0 + n) * cout_g)
            if n == groups:
                src = x
            else:
                dims = x.get_output_tensor().dims
                begin, end = [0] * len(dims), list(dims)
                begin[-1], end[-1] = g0 * cin_g, (g0 + n) * cin_g
                src = _set_fix(g.create_op(f"{name}_in{p}", "strided_slice",
                                           {"begin": begin, "end": end, "strides": [1] * len(dims)},
                                           {"input": [x]}), _fix_of(x))
            ins = {"input": [src], "weights": [_const_like(g, w_op, f"{w_op.get_name()}_g{p}",
                                                           block_diagonal(w[rows], n))]}
            if b_op is not None:
                ins["bias"] = [_const_like(g, b_op, f"{b_op.get_name()}_g{p}", bias[rows])]
            pieces.append(_set_fix(g.create_op(f"{name}_g{p}", "conv2d-fix", dict(attrs), ins), _fix_of(op)))
        if len(pieces) == 1:
            out = pieces[0]
        else:
            out = _set_fix(g.create_op(f"{name}_groups", "concat-fix", {"axis": 3}, {"input": pieces}), _fix_of(op))
        g.replace_uses(op, out)
        g.remove_op(op)
        for c in (w_op, b_op):
            if c is not None and not c.get_fanout_ops():
                g.remove_op(c)
        g.rename_op(out, name)
        log.append(f"split_groups: {name} (group {groups}, {cin_g} -> {cout_g} channels per group) runs as "
                   f"{len(pieces)} conv(s) of {min(k, groups)} group(s)")
    return log
