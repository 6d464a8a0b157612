"""Window geometry of ONNX convolutions and pools (auto_pad, pads, strides, dilations).

Rules (the ONNX operator specification):
- ``pads`` lists the begin pads of every spatial axis, then the end pads;
- ``auto_pad`` SAME_UPPER / SAME_LOWER pad so that ``out = ceil(in / stride)``: the total is
  ``max((out - 1) * stride + (kernel - 1) * dilation + 1 - in, 0)``, the odd pixel going to the end
  (SAME_UPPER) or the beginning (SAME_LOWER); VALID pads nothing;
- torch pads symmetrically, so begin != end becomes an explicit pad before the op (``F.pad`` takes the
  last axis first).
"""
from __future__ import annotations


def window(ctx, kernel: list[int], in_spatial: tuple[int, ...]):
    """(strides, dilations, begin pads, end pads) of a conv or pool node."""
    k = len(kernel)
    strides = list(ctx.attr("strides", [1] * k))
    dil = list(ctx.attr("dilations", [1] * k))
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(k):
            out = -(-in_spatial[i] // strides[i])
            total = max((out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - in_spatial[i], 0)
            small = total // 2
            b, e = (small, total - small) if auto == "SAME_UPPER" else (total - small, small)
            begin.append(b)
            end.append(e)
    elif auto == "VALID":
        begin, end = [0] * k, [0] * k
    else:
        pads = list(ctx.attr("pads", [0] * (2 * k)))
        begin, end = pads[:k], pads[k:]
    return strides, dil, begin, end


def torch_pad(begin, end) -> list[int]:
    """ONNX begin/end pads of the spatial axes -> ``F.pad``'s list (last axis first)."""
    out = []
    for b, e in zip(reversed(begin), reversed(end)):
        out += [int(b), int(e)]
    return out
