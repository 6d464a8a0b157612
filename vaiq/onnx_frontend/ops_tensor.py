"""Activations, element-wise ops and data movement, written with the torch ops vaiq's capture maps.

Rules:
- activations map to the torch functions whose aten ops vaiq quantizes: Relu -> relu, Clip(0, 6) ->
  relu6, Clip(0, +inf) -> relu, LeakyRelu -> leaky_relu, HardSigmoid(1/6, 1/2) -> hardsigmoid,
  HardSwish -> hardswish; other Clip and HardSigmoid parameters are computed with clamp (float, CPU);
- Reshape, Flatten, Squeeze and Unsqueeze keep the leading (batch) axis symbolic when it passes
  through unchanged, so the module runs on other batch sizes than the traced one;
- Resize / Upsample "nearest" become ``F.interpolate(mode="nearest")`` when the source pixel of every
  output pixel, computed with the node's coordinate_transformation_mode and nearest_mode, is the one
  torch picks (checked on index ramps when the node is converted), else an index gather; "linear" and
  "cubic" become bilinear / bicubic interpolation for the half_pixel (align_corners=False) and
  align_corners modes;
- Slice with a negative step flips the axis, then slices.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
import torch
import torch.nn.functional as F

from .base import Call, NotConverted, OnnxOp, Operands, runtime_rank


def _identity(x):
    return x


class Identity(OnnxOp):
    reads = (0,)

    def forward(self, x):
        return x


def identity(ctx):
    if ctx.op == "Dropout":
        if any(ctx.used[1:]):
            raise NotConverted("Dropout's mask output is read")
        if ctx.has(2) and (ctx.const(2) is None or bool(ctx.const(2).reshape(-1)[0])):
            raise NotConverted("Dropout in training mode")
    return Identity()


def _unary(fn, **kw):
    def convert(ctx):
        return Call(fn, [("x", 0)], kw, reads=(0,))
    return convert


def clip(ctx):
    lo, hi = ctx.need_const(1, "min"), ctx.need_const(2, "max")
    lo = None if lo is None else float(lo.reshape(()))
    hi = None if hi is None else float(hi.reshape(()))
    if lo == 0.0 and hi == 6.0:
        return Call(F.relu6, [("x", 0)], reads=(0,))
    if lo == 0.0 and (hi is None or hi == math.inf):
        return Call(F.relu, [("x", 0)], reads=(0,))
    if lo is None and hi is None:
        return Identity()
    return Call(torch.clamp, [("x", 0)], {"min": lo, "max": hi}, reads=(0,))


def _hard_sigmoid(x, alpha: float, beta: float):
    return torch.clamp(x * alpha + beta, 0.0, 1.0)


def hard_sigmoid(ctx):
    alpha, beta = float(ctx.attr("alpha", 0.2)), float(ctx.attr("beta", 0.5))
    if abs(alpha - 1 / 6) < 1e-6 and beta == 0.5:
        return Call(F.hardsigmoid, [("x", 0)], reads=(0,))
    return Call(_hard_sigmoid, [("x", 0)], {"alpha": alpha, "beta": beta}, reads=(0,))


def leaky_relu(ctx):
    return Call(F.leaky_relu, [("x", 0)], {"negative_slope": float(ctx.attr("alpha", 0.01))}, reads=(0,))


def elu(ctx):
    return Call(F.elu, [("x", 0)], {"alpha": float(ctx.attr("alpha", 1.0))}, reads=(0,))


def softmax(ctx):
    fn = torch.log_softmax if ctx.op == "LogSoftmax" else torch.softmax
    return Call(fn, [("x", 0)], {"dim": int(ctx.attr("axis", -1))}, reads=(0,))


def gelu(ctx):
    return Call(F.gelu, [("x", 0)], {"approximate": ctx.attr("approximate", "none")}, reads=(0,))


def prelu(ctx):
    ops = Operands(ctx)
    return ops.call(_prelu, [ops.x(0), ops.any(1, scalar_ok=False)])


def _prelu(x, slope):
    return torch.where(x < 0, x * slope, x)


_BINARY = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div, "Pow": torch.pow,
           "Max": torch.maximum, "Min": torch.minimum}


def binary(ctx):
    if ctx.op == "Div" and not ctx.examples[0].is_floating_point():
        raise NotConverted("integer Div")
    ops = Operands(ctx)
    rank = runtime_rank(ctx, (0, 1))
    a, b = ops.any(0, rank=rank), ops.any(1, rank=rank)
    if a[0] == "py" and ctx.op in ("Max", "Min"):
        a, b = b, a
    if a[0] == "py":                 # a number on the left: swap operands where the op allows it
        if ctx.op in ("Add", "Mul"):
            a, b = b, a
        elif ctx.op == "Sub":
            return ops.call(torch.rsub, [b, a])
        else:
            a = ("buf", ctx.const(0).clone())
    if ctx.op in ("Max", "Min") and b[0] == "py":
        b = ("buf", ctx.const(1).clone())
    return ops.call(_BINARY[ctx.op], [a, b])


def _variadic(fn):
    def run(*xs):
        y = xs[0]
        for x in xs[1:]:
            y = fn(y, x)
        return y
    return run


def variadic(ctx):
    fn = {"Sum": torch.add, "Max": torch.maximum, "Min": torch.minimum, "Mean": torch.add}[ctx.op]
    n = len(ctx.node.input)
    if n == 2 and ctx.op != "Mean":
        return binary(ctx)
    ops = Operands(ctx)
    slots = [ops.any(i, scalar_ok=False) for i in range(n)]
    if ctx.op == "Mean":
        return ops.call(_mean_all, slots, n=n)
    return ops.call(_variadic(fn), slots)


def _mean_all(*xs, n):
    return _variadic(torch.add)(*xs) / n


def concat(ctx):
    ops = Operands(ctx)
    slots = [ops.any(i, scalar_ok=False) for i in range(len(ctx.node.input))]
    return ops.call(_cat, slots, dim=int(ctx.attr("axis")))


def _cat(*xs, dim):
    return torch.cat(list(xs), dim)


def transpose(ctx):
    perm = ctx.attr("perm") or list(reversed(range(ctx.rank(0))))
    return Call(torch.permute, [("x", 0)], {"dims": tuple(int(p) for p in perm)}, reads=(0,))


class Reshape(OnnxOp):
    """To a fixed shape; ``batch``: the leading axis follows the input's (module rule)."""

    def __init__(self, shape: tuple[int, ...], batch: bool):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.batch = batch
        self.reads = (0,)

    def forward(self, x):
        if self.batch:
            return x.reshape((x.shape[0],) + self.shape[1:])
        return x.reshape(self.shape)


def _reshape_to(ctx, out: tuple[int, ...]) -> Reshape:
    src = ctx.shape(0)
    batch = len(src) >= 1 and len(out) >= 1 and src[0] == out[0] and src[0] != 0 and \
        int(np.prod(src[1:])) == int(np.prod(out[1:]))
    return Reshape(out, batch)


def reshape(ctx):
    want = ctx.ints(1, "shape")
    src = ctx.shape(0)
    allow_zero = int(ctx.attr("allowzero", 0))
    dims = [src[i] if (d == 0 and not allow_zero) else d for i, d in enumerate(want)]
    if -1 in dims:
        known = int(np.prod([d for d in dims if d != -1]))
        dims[dims.index(-1)] = int(np.prod(src)) // known if known else 0
    return _reshape_to(ctx, tuple(dims))


def flatten(ctx):
    src = ctx.shape(0)
    axis = int(ctx.attr("axis", 1))
    axis = axis + len(src) if axis < 0 else axis
    if axis == 1 and len(src) >= 2:
        return Call(torch.flatten, [("x", 0)], {"start_dim": 1}, reads=(0,))
    return _reshape_to(ctx, (int(np.prod(src[:axis])), int(np.prod(src[axis:]))))


def squeeze(ctx):
    src = ctx.shape(0)
    axes = ctx.ints(1, "axes") if ctx.has(1) else ctx.attr("axes")
    axes = {a % len(src) for a in axes} if axes is not None else {i for i, d in enumerate(src) if d == 1}
    return _reshape_to(ctx, tuple(d for i, d in enumerate(src) if i not in axes))


def unsqueeze(ctx):
    src = list(ctx.shape(0))
    axes = ctx.ints(1, "axes") if ctx.has(1) else ctx.attr("axes")
    n = len(src) + len(axes)
    out = []
    it = iter(src)
    axes = {a % n for a in axes}
    for i in range(n):
        out.append(1 if i in axes else next(it))
    return _reshape_to(ctx, tuple(out))


class SliceOp(OnnxOp):
    """Slices per axis: (axis, start, stop, step), step > 0, after flipping ``flips``."""

    def __init__(self, flips: list[int], cuts: list[tuple[int, int, int, int]]):
        super().__init__()
        self.flips = flips
        self.cuts = cuts
        self.reads = (0,)

    def forward(self, x):
        if self.flips:
            x = torch.flip(x, self.flips)
        for axis, start, stop, step in self.cuts:
            x = x[(slice(None),) * axis + (slice(start, stop, step),)]
        return x


def slice_(ctx):
    src = ctx.shape(0)
    starts, ends = ctx.ints(1, "starts"), ctx.ints(2, "ends")
    axes = ctx.ints(3, "axes") if ctx.has(3) else list(range(len(starts)))
    steps = ctx.ints(4, "steps") if ctx.has(4) else [1] * len(starts)
    flips, cuts = [], []
    for s, e, a, st in zip(starts, ends, axes, steps):
        a %= len(src)
        dim = src[a]
        if st == 0:
            raise NotConverted("Slice with step 0")
        s = s + dim if s < 0 else s
        e = e + dim if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
            if (s, e, st) != (0, dim, 1):
                cuts.append((a, s, max(e, s), st))
        else:
            s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
            flips.append(a)        # index i of the flipped axis holds dim - 1 - i
            fs, fe = dim - 1 - s, dim - 1 - e
            cuts.append((a, fs, max(fe, fs), -st))
    if not flips and not cuts:
        return Identity()
    return SliceOp(flips, cuts)


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


def pad(ctx):
    mode = ctx.attr("mode", "constant")
    if mode not in _PAD_MODES:
        raise NotConverted(f"Pad mode {mode}")
    pads = ctx.ints(1, "pads")
    r = ctx.rank(0)
    axes = ctx.ints(3, "axes") if ctx.has(3) else list(range(r))
    axes = [a % r for a in axes]
    begin, end = [0] * r, [0] * r
    for i, a in enumerate(axes):
        begin[a], end[a] = pads[i], pads[len(axes) + i]
    first = next((i for i in range(r) if begin[i] or end[i]), r)
    if first == r:
        return Identity()
    flat = []
    for i in reversed(range(first, r)):
        flat += [begin[i], end[i]]
    value = ctx.need_const(2, "constant_value")
    kw = {"pad": flat, "mode": _PAD_MODES[mode]}
    if mode == "constant":
        kw["value"] = float(value.reshape(-1)[0]) if value is not None and value.numel() else 0.0
    return Call(F.pad, [("x", 0)], kw, reads=(0,))


_REDUCE = {"ReduceMean": torch.mean, "ReduceSum": torch.sum, "ReduceMax": torch.amax, "ReduceMin": torch.amin}


def reduce(ctx):
    """Reduce* over ``axes`` (attribute before opset 18 / ReduceSum 13, input after)."""
    r = ctx.rank(0)
    axes = ctx.ints(1, "axes") if ctx.has(1) else ctx.attr("axes")
    if not axes:
        if int(ctx.attr("noop_with_empty_axes", 0)):
            return Identity()
        axes = list(range(r))
    dims = tuple(sorted(a % r for a in axes))
    return Call(_REDUCE[ctx.op], [("x", 0)], {"dim": dims, "keepdim": bool(ctx.attr("keepdims", 1))}, reads=(0,))


def _split(x, sizes, dim):
    return tuple(torch.split(x, sizes, dim))


def split(ctx):
    """Split into the ``split`` sizes, else ``num_outputs`` (or one per output) parts of ceil(dim / n)."""
    r = ctx.rank(0)
    axis = int(ctx.attr("axis", 0)) % r
    dim = ctx.shape(0)[axis]
    sizes = ctx.ints(1, "split") if ctx.has(1) else ctx.attr("split")
    if sizes is None:
        n = int(ctx.attr("num_outputs", len(ctx.node.output)))
        step = -(-dim // n)
        sizes = [min(step, dim - i * step) for i in range(n)]
    return Call(_split, [("x", 0)], {"sizes": [int(v) for v in sizes], "dim": axis}, reads=(0,))


class Take(OnnxOp):
    """Gather of one constant index along ``axis``: a one-wide slice, then the axis dropped."""

    def __init__(self, axis: int, index: int):
        super().__init__()
        self.axis, self.index = axis, index
        self.reads = (0,)

    def forward(self, x):
        y = x.narrow(self.axis, self.index, 1)
        return y.reshape(tuple(x.shape[:self.axis]) + tuple(x.shape[self.axis + 1:]))


def gather(ctx):
    """Gather with constant indices: one index or a run of consecutive ones slice, others index_select."""
    idx = ctx.need_const(1, "indices")
    r = ctx.rank(0)
    axis = int(ctx.attr("axis", 0)) % r
    dim = ctx.shape(0)[axis]
    flat = [v + dim if v < 0 else v for v in idx.reshape(-1).tolist()]
    if idx.dim() == 0:
        return Take(axis, flat[0])
    if idx.dim() != 1:
        raise NotConverted("Gather with indices of rank > 1")
    if flat == list(range(flat[0], flat[0] + len(flat))):
        return SliceOp([], [(axis, flat[0], flat[0] + len(flat), 1)])
    return Call(_index_select, [("x", 0), ("buf", torch.tensor(flat, dtype=torch.int64))], {"dim": axis},
                reads=(0,))


def _index_select(x, index, dim):
    return torch.index_select(x, dim, index)


def _to(x, dtype):
    return x.to(dtype)


def cast(ctx):
    dtype = torch.from_numpy(np.empty(0, onnx.helper.tensor_dtype_to_np_dtype(int(ctx.attr("to"))))).dtype
    if dtype == ctx.examples[0].dtype:
        return Identity()
    return Call(_to, [("x", 0)], {"dtype": dtype}, reads=(0,))


# ---- Resize / Upsample -----------------------------------------------------------------------

def _source_coords(mode: str, out_len: int, in_len: int, scale: float) -> np.ndarray:
    x = np.arange(out_len, dtype=np.float32)
    s = np.float32(scale)
    if mode == "half_pixel":
        return (x + 0.5) / s - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / s - 0.5 if out_len > 1 else np.zeros_like(x)
    if mode == "align_corners":
        return x * (in_len - 1) / (out_len - 1) if out_len > 1 else np.zeros_like(x)
    if mode == "asymmetric":
        return x / s
    if mode == "tf_half_pixel_for_nn":
        return (x + 0.5) / s
    if mode == "half_pixel_symmetric":
        adj = np.float32(out_len) / (s * np.float32(in_len))
        center = np.float32(in_len) / 2
        return center * (1 - adj) + (x + 0.5) / s - 0.5
    raise NotConverted(f"Resize coordinate_transformation_mode {mode}")


def _nearest(coords: np.ndarray, how: str, in_len: int) -> np.ndarray:
    if how == "round_prefer_floor":
        idx = np.ceil(coords - 0.5)
    elif how == "round_prefer_ceil":
        idx = np.floor(coords + 0.5)
    elif how == "floor":
        idx = np.floor(coords)
    elif how == "ceil":
        idx = np.ceil(coords)
    else:
        raise NotConverted(f"Resize nearest_mode {how}")
    return np.clip(idx, 0, in_len - 1).astype(np.int64)


def _torch_nearest_map(in_sp, out_sp, axis: int) -> np.ndarray:
    """Which source index ``F.interpolate(mode='nearest', size=out_sp)`` reads along spatial ``axis``."""
    shape = [1, 1] + [1] * len(in_sp)
    shape[2 + axis] = in_sp[axis]
    ramp = torch.arange(in_sp[axis], dtype=torch.float32).reshape(shape).expand((1, 1) + tuple(in_sp))
    y = F.interpolate(ramp.contiguous(), size=tuple(out_sp), mode="nearest")
    idx = [0, 0] + [0] * len(in_sp)
    idx[2 + axis] = slice(None)
    return y[tuple(idx)].numpy().astype(np.int64)


class Gather(OnnxOp):
    """Nearest resize as an index gather along each spatial axis."""

    def __init__(self, maps: list[tuple[int, torch.Tensor]]):
        super().__init__()
        self.axes = [a for a, _ in maps]
        for a, m in maps:
            self.register_buffer(f"index{a}", m)
        self.reads = (0,)

    def forward(self, x):
        for a in self.axes:
            x = torch.index_select(x, a, getattr(self, f"index{a}"))
        return x


def resize(ctx):
    src = ctx.shape(0)
    r = len(src)
    if ctx.op == "Upsample":
        scales = ctx.need_const(1, "scales").tolist()
        sizes = None
        mode, coord, how = ctx.attr("mode", "nearest"), "asymmetric", "floor"
    else:
        if int(ctx.attr("antialias", 0)) or ctx.attr("axes") is not None or \
                ctx.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise NotConverted("Resize with antialias, axes or keep_aspect_ratio_policy")
        scales = ctx.need_const(2, "scales") if ctx.has(2) else None
        scales = scales.tolist() if scales is not None and scales.numel() else None
        sizes = ctx.ints(3, "sizes") if ctx.has(3) else None
        mode = ctx.attr("mode", "nearest")
        coord = ctx.attr("coordinate_transformation_mode", "half_pixel")
        how = ctx.attr("nearest_mode", "round_prefer_floor")
    if sizes is not None:
        out = list(sizes)
        scales = [o / i for o, i in zip(out, src)]
    elif scales is not None:
        out = [int(math.floor(i * s)) for i, s in zip(src, scales)]
    else:
        raise NotConverted("Resize without scales or sizes")
    if r < 3 or out[:2] != list(src[:2]):
        raise NotConverted("Resize of the batch or channel axis")
    in_sp, out_sp, sc = src[2:], tuple(out[2:]), scales[2:]
    if mode == "nearest":
        maps = [_nearest(_source_coords(coord, o, i, s), how, i) for i, o, s in zip(in_sp, out_sp, sc)]
        if all(np.array_equal(m, _torch_nearest_map(in_sp, out_sp, a)) for a, m in enumerate(maps)):
            return Call(F.interpolate, [("x", 0)], {"size": out_sp, "mode": "nearest"}, reads=(0,))
        return Gather([(2 + a, torch.from_numpy(m)) for a, m in enumerate(maps)
                       if not np.array_equal(m, np.arange(in_sp[a]))])
    if mode in ("linear", "cubic") and r == 4 and (mode == "linear" or float(ctx.attr("cubic_coeff_a", -0.75)) == -0.75
                                                   and not int(ctx.attr("exclude_outside", 0))):
        kind = "bilinear" if mode == "linear" else "bicubic"
        if coord == "align_corners":
            return Call(F.interpolate, [("x", 0)], {"size": out_sp, "mode": kind, "align_corners": True}, reads=(0,))
        if coord == "half_pixel" or (coord == "pytorch_half_pixel" and min(out_sp) > 1):
            if sizes is not None or all(o == i * s for i, o, s in zip(in_sp, out_sp, sc)):
                return Call(F.interpolate, [("x", 0)], {"size": out_sp, "mode": kind, "align_corners": False},
                            reads=(0,))
            return Call(F.interpolate, [("x", 0)], {"scale_factor": tuple(sc), "mode": kind, "align_corners": False,
                                                    "recompute_scale_factor": False}, reads=(0,))
    raise NotConverted(f"Resize mode {mode} with coordinate_transformation_mode {coord}")


TENSOR_OPS = {
    "Identity": identity, "Dropout": identity,
    "Relu": _unary(F.relu), "Sigmoid": _unary(torch.sigmoid), "Tanh": _unary(torch.tanh),
    "HardSwish": _unary(F.hardswish), "HardSigmoid": hard_sigmoid, "LeakyRelu": leaky_relu, "Clip": clip,
    "Elu": elu, "Softmax": softmax, "LogSoftmax": softmax, "Gelu": gelu, "PRelu": prelu,
    "Exp": _unary(torch.exp), "Log": _unary(torch.log), "Sqrt": _unary(torch.sqrt), "Abs": _unary(torch.abs),
    "Neg": _unary(torch.neg), "Reciprocal": _unary(torch.reciprocal), "Erf": _unary(torch.erf),
    "Softplus": _unary(F.softplus), "Softsign": _unary(F.softsign), "Mish": _unary(F.mish),
    "Add": binary, "Sub": binary, "Mul": binary, "Div": binary, "Pow": binary,
    "Sum": variadic, "Max": variadic, "Min": variadic, "Mean": variadic,
    "Concat": concat, "Transpose": transpose, "Reshape": reshape, "Flatten": flatten,
    "Squeeze": squeeze, "Unsqueeze": unsqueeze, "Slice": slice_, "Pad": pad,
    "Resize": resize, "Upsample": resize,
    **{op: reduce for op in _REDUCE},
    "Split": split, "Gather": gather, "Cast": cast,
}
