"""Shape arithmetic shared by the op families: NHWC windows, broadcasting, fixed-point dtypes."""
from __future__ import annotations

import math

from .registry import AttrDef, ShapeError

# Attribute sets shared by several op families. Spatial pairs are width first, as in XIR:
# kernel [kw, kh], stride [sw, sh], dilation [dw, dh], pad [left, right, top, bottom].
PAD_MODES = ("FLOOR", "CEIL", "SAME", "VALID")
NONLINEARS = ("NONE", "RELU", "PRELU", "LEAKYRELU", "RELU6", "HSIGMOID", "HSWISH")


def window_attrs(with_dilation: bool = True):
    attrs = [
        AttrDef("kernel", "int32[]", True, list_length=2, annotation="[kernel_w, kernel_h]"),
        AttrDef("stride", "int32[]", False, [1, 1], 2, "[stride_w, stride_h]"),
        AttrDef("pad_mode", "string", False, "FLOOR", annotation="FLOOR | CEIL | SAME | VALID",
                choices=PAD_MODES),
        AttrDef("pad", "int32[]", False, [0, 0, 0, 0], 4, "[left, right, top, bottom]"),
    ]
    if with_dilation:
        attrs.insert(2, AttrDef("dilation", "int32[]", False, [1, 1], 2, "[dilation_w, dilation_h]"))
    return attrs


def attr(op, name):
    """The op's attribute value, or its definition's default."""
    if op.has_attr(name):
        return op.get_attr(name)
    d = op.op_def.attr(name)
    if d is None or (d.default is None and d.required):
        raise ShapeError(f"attribute '{name}' is missing")
    return d.default


def one(op, arg):
    ts = op.get_input_tensors(arg)
    if len(ts) != 1:
        raise ShapeError(f"needs exactly one '{arg}' input, has {len(ts)}")
    return ts[0]


def optional(op, arg):
    ts = op.get_input_tensors(arg)
    return ts[0] if ts else None


def nhwc(t, what="input"):
    if len(t.dims) != 4:
        raise ShapeError(f"{what} must be 4-D NHWC, got dims {list(t.dims)}")
    return t.dims


def window_out(size: int, k: int, s: int, d: int, p0: int, p1: int, mode: str) -> int:
    """Output extent of a sliding window along one axis under an XIR pad mode."""
    eff = d * (k - 1) + 1
    if mode == "SAME":
        return math.ceil(size / s)
    if mode == "VALID":
        n = (size - eff) // s + 1
    elif mode == "CEIL":
        n = math.ceil((size + p0 + p1 - eff) / s) + 1
    else:
        n = (size + p0 + p1 - eff) // s + 1
    if n < 1:
        raise ShapeError(f"window {k} (dilation {d}, stride {s}) does not fit an extent of {size} "
                         f"with padding {p0}+{p1}")
    return n


def spatial_out(op, h: int, w: int, kw: int, kh: int, dilation=True):
    sw, sh = attr(op, "stride")
    dw, dh = attr(op, "dilation") if dilation else (1, 1)
    pl, pr, pt, pb = attr(op, "pad")
    mode = attr(op, "pad_mode")
    if min(kw, kh, sw, sh, dw, dh) < 1:
        raise ShapeError("kernel, stride and dilation must be >= 1")
    if min(pl, pr, pt, pb) < 0:
        raise ShapeError(f"padding must be >= 0, got {[pl, pr, pt, pb]}")
    return (window_out(h, kh, sh, dh, pt, pb, mode), window_out(w, kw, sw, dw, pl, pr, mode))


def broadcast(shapes) -> list[int]:
    """numpy broadcasting of several dims lists."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        sizes = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0} - {1}
        if len(sizes) > 1:
            raise ShapeError(f"shapes {[list(s) for s in shapes]} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return out


def norm_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def fixed_dtype(op) -> str:
    """Data type of a fixed (``*-fix``) op's output: xint<bit_width> from its output tensor, xint8 by default."""
    t = op.get_output_tensor() if op.has_output_tensor() else None
    if t is not None and t.has_attr("bit_width"):
        signed = t.get_attr("if_signed") if t.has_attr("if_signed") else True
        return f"{'xint' if signed else 'xuint'}{t.get_attr('bit_width')}"
    return "xint8"


def explicit_pads(op, h: int, w: int, kw: int, kh: int, dilation=True) -> list[int]:
    """[left, right, top, bottom] that reproduce the op's pad_mode with plain zero padding: SAME
    splits the total (extra on the right/bottom), CEIL adds what the last window overhangs."""
    sw, sh = attr(op, "stride")
    dw, dh = attr(op, "dilation") if dilation else (1, 1)
    pl, pr, pt, pb = attr(op, "pad")
    mode = attr(op, "pad_mode")
    out_h, out_w = spatial_out(op, h, w, kw, kh, dilation)

    def one_axis(size, k, s, d, p0, p1, out):
        eff = d * (k - 1) + 1
        if mode == "SAME":
            total = max((out - 1) * s + eff - size, 0)
            return total // 2, total - total // 2
        if mode == "VALID":
            return 0, 0
        need = (out - 1) * s + eff - (size + p0 + p1)
        return p0, p1 + max(need, 0)

    l, r = one_axis(w, kw, sw, dw, pl, pr, out_w)
    t, b = one_axis(h, kh, sh, dh, pt, pb, out_h)
    return [l, r, t, b]
