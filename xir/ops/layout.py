"""Layout and resampling ops: reshape, flatten, transpose, concat, pad, strided_slice, upsample, resize,
reduction_mean, reduction_max, and their fixed forms (reshape-fix, concat-fix, pad-fix, upsample-fix).

Rules: reshape keeps the element count (one -1 is resolved); concat inputs agree on every dim but
``axis``; pad's ``paddings`` lists (before, after) per dim; upsample multiplies H and W by the integer
``scale`` [sw, sh]; resize reaches ``size`` [out_w, out_h] (or H*sh, W*sw from a float ``scale``).
"""
from __future__ import annotations

import math

from ._shape import attr, fixed_dtype, nhwc, norm_axis, one
from .registry import ArgDef, AttrDef, ShapeError, define

#: a 4-D tensor's axis in torch / ONNX / Relax order (NCHW) -> the same axis of its NHWC form
NCHW_TO_NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}





def _reshape(op, fixed=False):
    t = one(op, "input")
    shape = list(attr(op, "shape"))
    total = math.prod(t.dims)
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise ShapeError(f"reshape target {shape} may hold at most one -1 and no other negative size")
    if -1 in shape:
        rest = math.prod(d for d in shape if d != -1)
        if rest == 0 or total % rest:
            raise ShapeError(f"cannot reshape dims {list(t.dims)} to {shape}")
        shape[shape.index(-1)] = total // rest
    if math.prod(shape) != total:
        raise ShapeError(f"cannot reshape dims {list(t.dims)} ({total} elements) to {shape}")
    return shape, fixed_dtype(op) if fixed else t.dtype


def _flatten(op):
    t = one(op, "input")
    r = len(t.dims)
    s, e = norm_axis(attr(op, "start_axis"), r), norm_axis(attr(op, "end_axis"), r)
    if s > e:
        raise ShapeError(f"start_axis {s} is after end_axis {e}")
    d = list(t.dims)
    return d[:s] + [math.prod(d[s:e + 1])] + d[e + 1:], t.dtype


def _transpose(op):
    t = one(op, "input")
    order = list(attr(op, "order"))
    if sorted(order) != list(range(len(t.dims))):
        raise ShapeError(f"order {order} is not a permutation of {len(t.dims)} axes")
    return [t.dims[i] for i in order], t.dtype


def _concat(op, fixed=False):
    ins = op.get_input_tensors("input")
    if not ins:
        raise ShapeError("needs at least one input")
    r = len(ins[0].dims)
    axis = norm_axis(attr(op, "axis"), r)
    out = list(ins[0].dims)
    for t in ins[1:]:
        d = list(t.dims)
        if len(d) != r or any(d[i] != out[i] for i in range(r) if i != axis):
            raise ShapeError(f"input dims {[list(x.dims) for x in ins]} differ outside axis {axis}")
        out[axis] += d[axis]
    return out, fixed_dtype(op) if fixed else ins[0].dtype


def _pad(op, fixed=False):
    t = one(op, "input")
    p = list(attr(op, "paddings"))
    if len(p) != 2 * len(t.dims) or min(p, default=0) < 0:
        raise ShapeError(f"paddings {p} must hold a non-negative (before, after) pair for each of {len(t.dims)} dims")
    return [d + p[2 * i] + p[2 * i + 1] for i, d in enumerate(t.dims)], fixed_dtype(op) if fixed else t.dtype


def _slice(op):
    t = one(op, "input")
    r = len(t.dims)
    begin, end, strides = (list(attr(op, k)) for k in ("begin", "end", "strides"))
    if not strides:
        strides = [1] * r
    if not len(begin) == len(end) == len(strides) == r:
        raise ShapeError(f"begin/end/strides need {r} values each")
    out = []
    for d, b, e, s in zip(t.dims, begin, end, strides):
        if s == 0:
            raise ShapeError("a stride of 0 is not allowed")
        out.append(len(range(*slice(b, e, s).indices(d))))
    return out, t.dtype


def _upsample(op, fixed=False):
    n, h, w, c = nhwc(one(op, "input"))
    sw, sh = attr(op, "scale")
    if sw < 1 or sh < 1:
        raise ShapeError(f"upsample scale {[sw, sh]} must be >= 1")
    return [n, h * sh, w * sw, c], fixed_dtype(op) if fixed else one(op, "input").dtype


def _resize(op):
    n, h, w, c = nhwc(one(op, "input"))
    size = list(attr(op, "size"))
    if size:
        if len(size) != 2 or min(size) < 1:
            raise ShapeError(f"size {size} must be [out_w, out_h] >= 1")
        return [n, size[1], size[0], c], "float32"
    scale = list(attr(op, "scale"))
    if len(scale) != 2 or min(scale) <= 0:
        raise ShapeError("resize needs a size [out_w, out_h] or a positive scale [sw, sh]")
    return [n, int(math.floor(h * scale[1])), int(math.floor(w * scale[0])), c], "float32"


def _reduce(op):
    t = one(op, "input")
    axes = sorted({norm_axis(a, len(t.dims)) for a in attr(op, "axis")})
    keep = attr(op, "keep_dims")
    out = [1 if i in axes else d for i, d in enumerate(t.dims)] if keep else \
        [d for i, d in enumerate(t.dims) if i not in axes]
    return out, "float32"


_RESHAPE = [AttrDef("shape", "int32[]", True, annotation="target dims; one -1 allowed")]
_CONCAT = [AttrDef("axis", "int32", True)]
_PAD = [AttrDef("paddings", "int32[]", True, annotation="(before, after) per dim"),
        AttrDef("mode", "string", False, "CONSTANT", choices=("CONSTANT", "REFLECT", "SYMMETRIC")),
        AttrDef("constant_values", "float[]", False, [])]
_UPSAMPLE = [AttrDef("scale", "int32[]", True, list_length=2, annotation="[scale_w, scale_h]"),
             AttrDef("mode", "string", False, "NEAREST", choices=("NEAREST",))]

define("reshape", ["input"], _RESHAPE, _reshape, "reshape to dims")
define("reshape-fix", ["input"], _RESHAPE, lambda op: _reshape(op, True), "fixed-point reshape")
define("flatten", ["input"], [AttrDef("start_axis", "int32", False, 1), AttrDef("end_axis", "int32", False, -1)],
       _flatten, "merge dims start_axis..end_axis")
define("transpose", ["input"], [AttrDef("order", "int32[]", True)], _transpose, "permute dims")
define("concat", [ArgDef("input", "REQUIRED_AND_REPEATED")], _CONCAT, _concat, "concatenate along axis")
define("concat-fix", [ArgDef("input", "REQUIRED_AND_REPEATED")], _CONCAT, lambda op: _concat(op, True),
       "fixed-point concat; inputs and output share one fix position")
define("pad", ["input"], _PAD, _pad, "pad every dim")
define("pad-fix", ["input"], _PAD, lambda op: _pad(op, True), "fixed-point pad")
define("strided_slice", ["input"],
       [AttrDef("begin", "int32[]", True), AttrDef("end", "int32[]", True),
        AttrDef("strides", "int32[]", False, [])], _slice, "python-style slice per dim")
define("upsample", ["input"], _UPSAMPLE, _upsample, "nearest upsampling by integer factors")
define("upsample-fix", ["input"], _UPSAMPLE, lambda op: _upsample(op, True), "fixed-point nearest upsampling")
define("resize", ["input"],
       [AttrDef("size", "int32[]", False, [], annotation="[out_w, out_h]"),
        AttrDef("scale", "float[]", False, [], annotation="[scale_w, scale_h] when size is empty"),
        AttrDef("mode", "string", False, "NEAREST", choices=("NEAREST", "BILINEAR")),
        AttrDef("align_corners", "bool", False, False), AttrDef("half_pixel_centers", "bool", False, False)],
       _resize, "resize H and W")
define("reduction_mean", ["input"],
       [AttrDef("axis", "int32[]", True), AttrDef("keep_dims", "bool", False, False)], _reduce,
       "mean over axes")
define("reduction_max", ["input"],
       [AttrDef("axis", "int32[]", True), AttrDef("keep_dims", "bool", False, False)], _reduce,
       "maximum over axes")
