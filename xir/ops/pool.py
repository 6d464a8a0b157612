"""Pooling ops: maxpool2d, avgpool2d and the fixed pool-fix (type MAX or AVG).

Rule: windows follow the conv window attributes (kernel [kw, kh], stride, pad [l, r, t, b],
pad_mode); ``global`` pools the whole plane to 1x1 whatever the kernel says.
"""
from __future__ import annotations

from ._shape import NONLINEARS, attr, fixed_dtype, nhwc, one, spatial_out, window_attrs
from .registry import AttrDef, define

_GLOBAL = AttrDef("global", "bool", False, False, annotation="pool the whole plane")


def _pool(op, fixed=False):
    n, h, w, c = nhwc(one(op, "input"))
    dt = fixed_dtype(op) if fixed else "float32"
    if attr(op, "global"):
        return [n, 1, 1, c], dt
    kw, kh = attr(op, "kernel")
    ho, wo = spatial_out(op, h, w, kw, kh, dilation=False)
    return [n, ho, wo, c], dt


define("maxpool2d", ["input"], window_attrs(False) + [_GLOBAL], _pool, "max pooling")
define("avgpool2d", ["input"],
       window_attrs(False) + [_GLOBAL, AttrDef("count_include_pad", "bool", False, True)],
       _pool, "average pooling; the DPU divides by kh*kw (count_include_pad)")
define("pool-fix", ["input"],
       window_attrs(False) + [_GLOBAL, AttrDef("type", "string", True, choices=("MAX", "AVG")),
                              AttrDef("count_include_pad", "bool", False, True),
                              AttrDef("nonlinear", "string", False, "NONE", choices=NONLINEARS)],
       lambda op: _pool(op, True), "fixed-point pooling; AVG computes sum*factor/2^shift")
