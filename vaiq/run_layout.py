"""Nodes that only move or select data (and max-pool, which only compares): every mode computes them
the same way, exactly, because they neither multiply nor round."""
from __future__ import annotations

import torch
import torch.nn.functional as F

LAYOUT_KINDS = ("flatten", "reshape", "transpose", "strided_slice", "pad", "upsample", "concat", "maxpool2d")


def run_layout(n, xs: list[torch.Tensor]) -> torch.Tensor:
    a, k = n.attrs, n.kind
    if k == "flatten":
        return torch.flatten(xs[0], a["start_dim"], a["end_dim"])
    if k == "reshape":
        return xs[0].reshape(a["shape"])
    if k == "transpose":
        return xs[0].permute(a["dims"])
    if k == "strided_slice":
        return xs[0][(slice(None),) * a["dim"] + (slice(a["start"], a["end"], a["step"]),)]
    if k == "pad":
        if a.get("mode", "constant") != "constant":
            return F.pad(xs[0], a["pad"], mode=a["mode"])
        return F.pad(xs[0], a["pad"], value=a["value"])
    if k == "upsample":
        return xs[0].repeat_interleave(a["scale"][0], 2).repeat_interleave(a["scale"][1], 3)
    if k == "concat":
        return torch.cat(xs, a["dim"])
    if k == "maxpool2d":
        return F.max_pool2d(xs[0], a["kernel"], a["stride"], a["padding"], 1, a["ceil_mode"])
    raise ValueError(f"node '{n.name}': {k} is not a layout node")
