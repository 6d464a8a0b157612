"""Chains of layout ops that only permute channels become one op the DPU runs.

Models shuffle channels by moving dims around (ShuffleNet's ``view(n, g, c/g, h, w)``, ``transpose(1,
2)``, ``view(n, c, h, w)``), and the deploy graph adds transposes between NHWC and NCHW around such
reshapes. Rule: a chain of fixed ``transpose`` / ``reshape-fix`` ops from a 4-D image to a 4-D image
of the same dims, each link read only by the next, whose net effect moves every channel of every pixel
to another channel of the same pixel (the same permutation everywhere), is replaced by

- nothing when the permutation is the identity (its readers read the chain's input), or
- a 1x1 ``conv2d-fix`` whose weights are the permutation matrix with entries ``2^6`` at fix position
  6 (value 1.0), no bias, and the chain's fix position: ``shift_cut`` is 6 and each output is
  ``x * 2^6 / 2^6 = x`` exactly, so the numbers do not change.

The chain's net effect is found by running it on a tensor of distinct indices, so any chain of these
ops is judged by what it computes, not by its spelling. The replacement takes the last op's name, so
the output tensor keeps its name.

The same holds in front of a dense layer (:func:`fold_flatten_permutes`): a chain from a 4-D image to
the ``[N, K]`` input of an ``inner-product-fix`` (torch flattens NCHW, so the deploy graph transposes
NHWC to NCHW first) permutes the K inputs; it becomes one ``reshape-fix`` of the NHWC bytes and the
layer's weight columns are permuted instead (``w'[:, perm[k]] = w[:, k]``): the same products, so the
same exact sums.
"""
from __future__ import annotations

import numpy as np

from ..graph import Graph, Op
from .fold_fix import FIX_ATTRS, _set_fix

LINKS = ("transpose", "reshape-fix")
WEIGHT_FIX = 6


def _is_fixed(op: Op) -> bool:
    return op.get_output_tensor().has_attr("fix_point")


def _apply(op: Op, v: np.ndarray) -> np.ndarray:
    if op.get_type() == "transpose":
        return np.transpose(v, op.get_attr("order"))
    return v.reshape(op.get_output_tensor().dims)


def permutation(chain: list[Op], dims) -> np.ndarray | None:
    """The per-pixel channel permutation ``perm`` (output channel c reads input channel perm[c]) the
    chain computes on a ``dims`` NHWC image, or None when it moves data across pixels or images."""
    n, h, w, c = dims
    idx = np.arange(n * h * w * c, dtype=np.int64).reshape(dims)
    v = idx
    for op in chain:
        v = _apply(op, v)
    if list(v.shape) != list(dims):
        return None
    base = (idx - idx % c)                                   # index of channel 0 of each pixel
    rel = v - base
    perm = rel[0, 0, 0] if v.size else np.arange(c)
    if rel.min() < 0 or rel.max() >= c or not np.array_equal(rel, np.broadcast_to(perm, rel.shape)):
        return None
    if sorted(perm.tolist()) != list(range(c)):
        return None
    return perm


def _chains(g: Graph):
    """Maximal single-reader chains of fixed layout links, each starting after a non-link op."""
    for op in g.toposort():
        if op.get_type() in LINKS or not _is_fixed(op):
            continue
        for first in op.get_fanout_ops():
            if first.get_type() not in LINKS or not _is_fixed(first):
                continue
            chain = [first]
            while True:
                users = chain[-1].get_fanout_ops()
                if (len(users) != 1 or users[0].get_type() not in LINKS or not _is_fixed(users[0])
                        or g.is_declared_output(chain[-1])):  # a declared output ends a chain (it is read)
                    break
                chain.append(users[0])
            yield op, chain


def fold_channel_permutes(g: Graph) -> list[str]:
    """Replace every channel-permuting chain (module rule); returns a log line per chain."""
    log = []
    done: set[str] = set()
    for src, chain in list(_chains(g)):
        if any(o.get_name() in done for o in chain):
            continue
        dims = list(src.get_output_tensor().dims)
        if len(dims) != 4:
            continue
        # the longest prefix whose end is an image of the input's dims and a channel permutation
        best = None
        for end in range(len(chain), 0, -1):
            if list(chain[end - 1].get_output_tensor().dims) != dims:
                continue
            if any(len(o.get_fanout_ops()) != 1 for o in chain[:end - 1]):
                continue
            perm = permutation(chain[:end], dims)
            if perm is not None:
                best = (chain[:end], perm)
                break
        if best is None:
            continue
        links, perm = best
        last = links[-1]
        name = last.get_name()
        done.update(o.get_name() for o in links)
        if np.array_equal(perm, np.arange(dims[3])):
            if g.is_declared_output(last):
                continue  # removing it would lose a model output's name
            g.replace_uses(last, src)
            for o in reversed(links):
                g.remove_op(o)
            log.append(f"channel_permute: {len(links)} layout op(s) ending at {name} are the identity, removed")
            continue
        c = dims[3]
        wdata = np.zeros((c, 1, 1, c), dtype=np.int8)
        wdata[np.arange(c), 0, 0, perm] = 1 << WEIGHT_FIX
        wop = _set_fix(g.create_const_op(f"{name}_permutation", wdata, "xint8", kind="const-fix"),
                       {"fix_point": WEIGHT_FIX, "bit_width": 8, "if_signed": True, "round_mode": "DPU_ROUND"})
        t = src.get_output_tensor()
        conv = g.create_op(f"{name}_permute", "conv2d-fix", {"kernel": [1, 1], "nonlinear": "NONE"},
                           {"input": [src], "weights": [wop]})
        _set_fix(conv, {k: t.get_attr(k) for k in FIX_ATTRS})
        g.replace_uses(last, conv)
        for o in reversed(links):
            g.remove_op(o)
        g.rename_op(conv, name)
        log.append(f"channel_permute: {len(links)} layout op(s) ending at {name} permute {c} channels: a 1x1 conv "
                   "with a permutation matrix")
    return log


def fold_flatten_permutes(g: Graph) -> list[str]:
    """Fold layout chains in front of dense layers into their weights (module rule)."""
    log = []
    for dense in [o for o in g.toposort() if o.get_type() == "inner-product-fix"]:
        links = []
        op = dense.get_input_op("input")
        while (op.get_type() in LINKS and _is_fixed(op) and len(op.get_fanout_ops()) == 1
               and not g.is_declared_output(op)):  # a declared output keeps its NCHW order
            links.insert(0, op)
            op = op.get_input_op("input")
        src = op
        dims = list(src.get_output_tensor().dims)
        if not links or len(dims) != 4 or not any(o.get_type() == "transpose" for o in links):
            continue
        n = dims[0]
        per = int(np.prod(dims[1:]))
        out = list(links[-1].get_output_tensor().dims)
        if out != [n, per]:
            continue
        v = np.arange(n * per, dtype=np.int64).reshape(dims)
        for link in links:
            v = _apply(link, v)
        perm = v[0] if n else np.arange(per)
        if sorted(perm.tolist()) != list(range(per)):
            continue
        w_op = dense.get_input_op("weights")
        w = w_op.get_const_data()
        new_w = np.empty_like(w)
        new_w[:, perm] = w
        name = links[-1].get_name()
        wp = g.create_const_op(f"{w_op.get_name()}_nhwc", new_w, w_op.get_attr("data_type"), kind="const-fix")
        _set_fix(wp, {k: w_op.get_output_tensor().get_attr(k) for k in FIX_ATTRS})
        t = src.get_output_tensor()
        flat = _set_fix(g.create_op(f"{name}_nhwc", "reshape-fix", {"shape": [n, per]}, {"input": [src]}),
                        {k: t.get_attr(k) for k in FIX_ATTRS})
        dense.replace_input_op(links[-1], flat)
        dense.replace_input_op(w_op, wp)
        for o in reversed(links):
            g.remove_op(o)
        if not w_op.get_fanout_ops():
            g.remove_op(w_op)
        g.rename_op(flat, name)
        log.append(f"flatten_permute: {len(links)} layout op(s) in front of {dense.get_name()} folded into its "
                   "weights (the DPU reads the NHWC bytes as they are)")
    return log
