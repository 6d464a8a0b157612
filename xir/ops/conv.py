"""Convolution-like ops: conv2d, depthwise-conv2d, transposed-conv2d, their fixed forms, dense ops.

Layouts: input NHWC; conv weights ``[out_c, kh, kw, in_c / group]``; depthwise weights
``[multiplier, kh, kw, in_c]`` (output channel ``c * multiplier + m``); transposed-conv weights
``[out_c, kh, kw, in_c]``; inner-product weights ``[out, in]``. A transposed conv's output extent is
``(in - 1) * stride + dilation * (k - 1) + 1 - pad_before - pad_after + output_padding``.
"""
from __future__ import annotations

import math

from ._shape import NONLINEARS, attr, fixed_dtype, nhwc, one, optional, spatial_out, window_attrs
from .registry import ArgDef, AttrDef, ShapeError, define

_ARGS = ["input", "weights", ArgDef("bias", "OPTIONAL")]
_NONLINEAR = AttrDef("nonlinear", "string", False, "NONE", choices=NONLINEARS,
                     annotation="activation fused into the op")
_GROUP = AttrDef("group", "int32", False, 1)


def conv_kind(in_channels: int, groups: int, in_per_group: int) -> str:
    """The op a grouped convolution is: ``depthwise-conv2d`` when every input channel is its own group
    (groups == input channels > 1, one input channel per group), else ``conv2d`` with ``group``.
    Frontends (vaiq's exporter, vai_tvm's partitioner) ask this one rule."""
    if groups > 1 and groups == in_channels and in_per_group == 1:
        return "depthwise-conv2d"
    return "conv2d"


def conv_weight_dims(kind: str, out_channels: int, in_per_group: int, kh: int, kw: int,
                     in_channels: int) -> list[int]:
    """The weights' dims of a ``conv_kind`` op: ``[out, kh, kw, in/group]``, depthwise
    ``[multiplier, kh, kw, in]``."""
    if kind == "depthwise-conv2d":
        return [out_channels // in_channels, kh, kw, in_channels]
    return [out_channels, kh, kw, in_per_group]


def _check_bias(op, cout):
    b = optional(op, "bias")
    if b is not None and list(b.dims) != [cout]:
        raise ShapeError(f"bias dims {list(b.dims)} do not match {cout} output channels")


def _check_kernel(op, kw, kh):
    if list(attr(op, "kernel")) != [kw, kh]:
        raise ShapeError(f"kernel attribute {attr(op, 'kernel')} does not match weights [kw, kh] = {[kw, kh]}")


def _conv(op, fixed=False):
    n, h, w, c = nhwc(one(op, "input"))
    wt = one(op, "weights").dims
    if len(wt) != 4:
        raise ShapeError(f"weights must be [out_c, kh, kw, in_c], got {list(wt)}")
    cout, kh, kw, cin_g = wt
    g = attr(op, "group")
    if g < 1 or c % g or cout % g or cin_g * g != c:
        raise ShapeError(f"weights {list(wt)} with group {g} do not match {c} input channels")
    _check_kernel(op, kw, kh)
    _check_bias(op, cout)
    ho, wo = spatial_out(op, h, w, kw, kh)
    return [n, ho, wo, cout], fixed_dtype(op) if fixed else "float32"


def _dwconv(op, fixed=False):
    n, h, w, c = nhwc(one(op, "input"))
    wt = one(op, "weights").dims
    if len(wt) != 4 or wt[3] != c:
        raise ShapeError(f"depthwise weights must be [multiplier, kh, kw, {c}], got {list(wt)}")
    mult, kh, kw, _ = wt
    _check_kernel(op, kw, kh)
    _check_bias(op, c * mult)
    ho, wo = spatial_out(op, h, w, kw, kh)
    return [n, ho, wo, c * mult], fixed_dtype(op) if fixed else "float32"


def _tconv(op, fixed=False):
    n, h, w, c = nhwc(one(op, "input"))
    wt = one(op, "weights").dims
    if len(wt) != 4:
        raise ShapeError(f"weights must be [out_c, kh, kw, in_c], got {list(wt)}")
    cout, kh, kw, cin_g = wt
    g = attr(op, "group")
    if g < 1 or cin_g * g != c:
        raise ShapeError(f"weights {list(wt)} with group {g} do not match {c} input channels")
    _check_kernel(op, kw, kh)
    _check_bias(op, cout)
    sw, sh = attr(op, "stride")
    dw, dh = attr(op, "dilation")
    pl, pr, pt, pb = attr(op, "pad")
    ow, oh = attr(op, "output_padding")
    ho = (h - 1) * sh + dh * (kh - 1) + 1 - pt - pb + oh
    wo = (w - 1) * sw + dw * (kw - 1) + 1 - pl - pr + ow
    if ho < 1 or wo < 1:
        raise ShapeError(f"padding {[pl, pr, pt, pb]} leaves no output")
    return [n, ho, wo, cout], fixed_dtype(op) if fixed else "float32"


_TCONV_EXTRA = [_GROUP, AttrDef("output_padding", "int32[]", False, [0, 0], 2, "[w, h]")]

define("conv2d", _ARGS, window_attrs() + [_GROUP], _conv, "2-D convolution")
define("conv2d-fix", _ARGS, window_attrs() + [_GROUP, _NONLINEAR], lambda op: _conv(op, True),
       "fixed-point 2-D convolution with fused activation")
define("depthwise-conv2d", _ARGS, window_attrs(), _dwconv, "depthwise convolution")
define("depthwise-conv2d-fix", _ARGS, window_attrs() + [_NONLINEAR], lambda op: _dwconv(op, True),
       "fixed-point depthwise convolution")
define("transposed-conv2d", _ARGS, window_attrs() + _TCONV_EXTRA, _tconv, "transposed convolution")
define("transposed-conv2d-fix", _ARGS, window_attrs() + _TCONV_EXTRA + [_NONLINEAR],
       lambda op: _tconv(op, True), "fixed-point transposed convolution")


def _inner_product(op, fixed=False):
    x = one(op, "input").dims
    wt = one(op, "weights").dims
    axis = attr(op, "axis")
    if not 1 <= axis <= len(x):
        raise ShapeError(f"axis {axis} is out of range for input dims {list(x)}")
    k = math.prod(x[axis:])
    if len(wt) != 2 or wt[1] != k:
        raise ShapeError(f"weights must be [out, {k}] for input dims {list(x)}, got {list(wt)}")
    _check_bias(op, wt[0])
    return list(x[:axis]) + [wt[0]], fixed_dtype(op) if fixed else "float32"


def _matmul(op):
    ins = op.get_input_tensors("input")
    if len(ins) != 2:
        raise ShapeError(f"matmul needs two inputs, has {len(ins)}")
    a, b = [list(t.dims) for t in ins]
    if len(a) < 2 or len(b) < 2:
        raise ShapeError(f"matmul inputs must be at least 2-D, got {a} and {b}")
    if attr(op, "transpose_a"):
        a[-2], a[-1] = a[-1], a[-2]
    if attr(op, "transpose_b"):
        b[-2], b[-1] = b[-1], b[-2]
    if a[-1] != b[-2]:
        raise ShapeError(f"matmul inner sizes differ: {a} x {b}")
    from ._shape import broadcast
    batch = broadcast([a[:-2], b[:-2]]) if (a[:-2] or b[:-2]) else []
    bias = optional(op, "bias")
    if bias is not None and list(bias.dims) not in ([b[-1]], [1]):
        raise ShapeError(f"matmul bias dims {list(bias.dims)} do not match {b[-1]} columns")
    return batch + [a[-2], b[-1]], "float32"


_IP_ATTRS = [AttrDef("axis", "int32", False, 1, annotation="dims from axis on are flattened")]
define("inner-product", _ARGS, _IP_ATTRS, _inner_product, "dense layer: y = x W^T + b")
define("inner-product-fix", _ARGS, _IP_ATTRS + [_NONLINEAR], lambda op: _inner_product(op, True),
       "fixed-point dense layer")
define("matmul", [ArgDef("input", "REQUIRED_AND_REPEATED"), ArgDef("bias", "OPTIONAL")],
       [AttrDef("transpose_a", "bool", False, False), AttrDef("transpose_b", "bool", False, False)],
       _matmul, "batched matrix product of two inputs")
