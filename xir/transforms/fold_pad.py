"""Pad folding: a zero ``pad-fix`` of H and W that only feeds a convolution (or an average pool that
counts padding) becomes that op's own padding, so no separate pass over the data is needed.

Rule: legal when the pad is CONSTANT with value 0, touches only H and W, the consumer uses explicit
padding (pad_mode FLOOR) and the summed padding stays within the target-independent 15 the LOAD and
CONV pad fields hold; otherwise the pad stays (and is placed by the partitioner).
"""
from __future__ import annotations

from ..graph import Graph
from ..target.placement import PAD_FIELD_MAX, PAD_FOLD_KINDS, takes_folded_pad


def fold_pad(g: Graph) -> list[str]:
    log = []
    for pad in [o for o in g.toposort() if o.get_type() == "pad-fix"]:
        users = pad.get_fanout_ops()
        p = pad.get_attr("paddings")
        cv = pad.get_attr_or_default("constant_values")
        if pad.get_attr_or_default("mode") != "CONSTANT" or any(cv) or len(p) != 8 or p[0] or p[1] or p[6] or p[7]:
            continue
        if len(users) != 1 or g.is_declared_output(pad):  # a declared output's value must stay computed
            continue
        u = users[0]
        kind = u.get_type()
        if kind not in PAD_FOLD_KINDS and kind != "pool-fix":  # e.g. a concat: no padding of its own
            continue
        if not takes_folded_pad(kind, u.get_attr("type") if kind == "pool-fix" else None,
                                bool(u.get_attr_or_default("count_include_pad")) if kind == "pool-fix" else False,
                                u.get_attr_or_default("pad_mode")):
            continue
        l, r, t, b = u.get_attr_or_default("pad")
        new = [l + p[4], r + p[5], t + p[2], b + p[3]]
        if max(new) > PAD_FIELD_MAX:
            continue
        u.set_attr("pad", new)
        u.replace_input_op(pad, pad.get_input_op("input"))
        g.remove_op(pad)
        u.infer_shape()
        log.append(f"fold_pad: {pad.get_name()} folded into {u.get_name()} (pad {new})")
    return log
