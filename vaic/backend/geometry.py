"""Sliding-window geometry of one layer, in the terms the compute instructions use.

Rule (docs/isa.md §4.4): an instruction computing output rows ``oy .. oy+R-1`` and output columns
``ox .. ox+L-1`` reads an input block of ``(R-1)*stride_h + kernel_h`` rows by
``(L-1)*stride_w + kernel_w`` columns whose top-left corner is input row ``oy*stride_h - pad_top``,
column ``ox*stride_w - pad_left``; block rows/columns outside the image are the instruction's
virtual padding (``pad_top/bottom/left/right``), the rest is read from the bank. The layer's padding
is the explicit form of its ``pad_mode`` (SAME / CEIL overhang turned into plain padding), exactly as
the reference kernels compute it.
"""
from __future__ import annotations

from dataclasses import dataclass

import xir
from xir.ops._shape import explicit_pads


@dataclass(frozen=True)
class Span:
    """One axis of an instruction or tile: stored input range and virtual padding."""
    first: int       # first stored input index (image coordinates)
    count: int       # stored input indices
    pad_before: int  # virtual padding before the stored part
    pad_after: int   # virtual padding after it


@dataclass(frozen=True)
class Window:
    """Input/output extents, kernel, stride and explicit padding of a window op (NHWC, batch 1)."""
    h: int
    w: int
    c: int
    ho: int
    wo: int
    kh: int = 1
    kw: int = 1
    sh: int = 1
    sw: int = 1
    pt: int = 0
    pb: int = 0
    pl: int = 0
    pr: int = 0

    def rows(self, oy: int, n: int) -> Span:
        """Input rows read by output rows ``oy .. oy+n-1``."""
        return _span(oy, n, self.sh, self.kh, self.pt, self.h)

    def cols(self, ox: int, n: int) -> Span:
        """Input columns read by output columns ``ox .. ox+n-1``."""
        return _span(ox, n, self.sw, self.kw, self.pl, self.w)


def _span(o: int, n: int, s: int, k: int, p: int, size: int) -> Span:
    lo = o * s - p
    hi = (o + n - 1) * s - p + k - 1
    first, last = max(lo, 0), min(hi, size - 1)
    return Span(first, last - first + 1, first - lo, hi - last)


def image_dims(t: xir.Tensor) -> tuple[int, int, int]:
    """(H, W, C) of a feature map: NHWC, or [N, C] seen as a 1x1 image."""
    d = t.dims
    if len(d) == 4:
        return d[1], d[2], d[3]
    if len(d) == 2:
        return 1, 1, d[1]
    if len(d) == 1:
        return 1, 1, d[0]
    n = 1
    for x in d[1:-1]:
        n *= x
    return 1, n, d[-1]


def window_of(op: xir.Op) -> Window:
    """The window of a conv2d-fix, depthwise-conv2d-fix or pool-fix op."""
    x = op.get_input_tensor("input")
    h, w, c = image_dims(x)
    y = op.get_output_tensor()
    ho, wo, _ = image_dims(y)
    if op.get_type() == "pool-fix" and op.get_attr_or_default("global"):
        return Window(h, w, c, ho, wo, kh=h, kw=w, sh=h, sw=w)
    kw, kh = op.get_attr_or_default("kernel")
    sw, sh = op.get_attr_or_default("stride")
    dil = op.get_type() != "pool-fix"
    pl, pr, pt, pb = explicit_pads(op, h, w, kw, kh, dilation=dil)
    return Window(h, w, c, ho, wo, kh, kw, sh, sw, pt, pb, pl, pr)


def pointwise(h: int, w: int, c: int) -> Window:
    """The identity window of an element-wise op or a copy (1x1, stride 1, no padding)."""
    return Window(h, w, c, h, w)
