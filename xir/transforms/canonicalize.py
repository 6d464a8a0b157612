"""Canonicalize: bring the quantized graph into the form the DPU backend compiles (vaic compiles the
result; ``vaiq inspect`` judges placement on it).

Rule: fix ops are folded into fixed ops (xir.transforms.fold_fix_ops: conv2d-fix, pool-fix,
eltwise-fix ... with fused nonlinearities); then each rewrite below runs once, in this order.
"""
from __future__ import annotations

from ..graph import Graph
from .channel_permute import fold_channel_permutes, fold_flatten_permutes
from .dense_to_conv import dense_to_conv
from .fold_fix import fold_fix_ops
from .fold_pad import fold_pad


def canonicalize(g: Graph) -> tuple[Graph, list[str]]:
    """The fixed-op graph and a log line per rewrite."""
    h = fold_fix_ops(g, validate=False)     # validated once, after the rewrites below
    log = [f"fold_fix: {sum(1 for o in g.get_ops() if o.get_type() == 'fix')} fix ops folded into "
           f"{sum(1 for o in h.get_ops() if o.get_type().endswith('-fix'))} fixed ops"]
    log += fold_channel_permutes(h)
    log += fold_flatten_permutes(h)
    log += dense_to_conv(h)
    log += fold_pad(h)
    h.validate()
    return h, log
