"""Lowering of aten ops (as torch.export emits them) to nodes of the xir op library.

Rules:
- one lowering per aten op; it returns a Node with torch-convention attributes, a list of Nodes (a
  chain whose last node is the op's value; the others are named by the lowering), ``None`` for an op
  that is the identity in eval mode (dropout variants, clone, contiguous, alias), or raises
  Unsupported with the reason the op must stay a float (CPU) op;
- an in-place overload ``aten.X_.ov`` (and a functionalized ``aten.X_functional.ov``) lowers like its
  twin ``aten.X.ov`` (:func:`lowering`), so LOWER lists out-of-place ops only;
- ops with several outputs (split, chunk, unbind, max.dim) lower one used output at a time
  (MULTI: ``fn(ctx, args, index)``); outputs nobody reads make no nodes.
"""
from __future__ import annotations

import torch

from .errors import CaptureError
from .ir import Node
from .stub_ops import MARKERS

aten = torch.ops.aten


class Unsupported(Exception):
    """The op runs in float on the CPU; the message says why."""


def _pair(v, n=2):
    if isinstance(v, int):
        return (v,) * n
    v = tuple(v)
    return v * n if len(v) == 1 else v


def _conv(ctx, a, transposed=False):
    w = ctx.param(a["weight"])
    if w is None or w.dim() != 4:
        raise Unsupported("only 2-D convolutions with constant weights are quantized")
    b = ctx.param(a.get("bias"))
    pad = a["padding"]
    if isinstance(pad, str):
        if pad == "valid":
            pad = (0, 0)
        else:
            raise Unsupported("padding='same' is handled by aten.conv2d.padding")
    attrs = {"stride": _pair(a["stride"]), "padding": _pair(pad), "dilation": _pair(a["dilation"]),
             "groups": int(a["groups"])}
    params = {"weight": w}
    names = {"weight": ctx.param_name(a["weight"])}
    if b is not None:
        params["bias"], names["bias"] = b, ctx.param_name(a["bias"])
    kind = "conv2d"
    if transposed:
        kind = "transposed-conv2d"
        attrs["output_padding"] = _pair(a.get("output_padding", 0))
    return Node("", kind, [ctx.input_name(a["input"])], attrs, params, param_names=names, quant="own")


def conv2d(ctx, a):
    return _conv(ctx, a)


def conv2d_padding(ctx, a):
    if a["padding"] == "same":
        w = ctx.param(a["weight"])
        kh, kw = w.shape[2:]
        dh, dw = _pair(a["dilation"])
        th, tw = dh * (kh - 1), dw * (kw - 1)
        if th % 2 or tw % 2 or any(s != 1 for s in _pair(a["stride"])):
            raise Unsupported("padding='same' with an even kernel or a stride is asymmetric")
        a = dict(a, padding=(th // 2, tw // 2))
    return _conv(ctx, a)


def convolution(ctx, a):
    return _conv(ctx, a, transposed=bool(a["transposed"]))


def conv_transpose2d(ctx, a):
    return _conv(ctx, a, transposed=True)


def _dense(ctx, x, w, w_src, b=None, b_src=None):
    params, names = {"weight": w}, {"weight": ctx.param_name(w_src)}
    if b is not None:
        params["bias"], names["bias"] = b, ctx.param_name(b_src)
    return Node("", "inner-product", [ctx.input_name(x)], {}, params, param_names=names, quant="own")


def linear(ctx, a):
    return _dense(ctx, a["input"], ctx.param(a["weight"]), a["weight"], ctx.param(a.get("bias")), a.get("bias"))


def addmm(ctx, a):
    """``bias + x @ W^T`` as older torch.export writes a linear layer (``t`` + ``addmm``): a dense layer
    when ``mat2`` and ``self`` are parameters (``t`` of a parameter is folded at capture)."""
    if a.get("beta", 1) != 1 or a.get("alpha", 1) != 1:
        raise Unsupported("addmm with beta or alpha != 1")
    w, b = ctx.param(a["mat2"]), ctx.param(a["self"])
    if w.dim() != 2 or b.dim() != 1 or a["mat1"].meta["val"].dim() != 2:
        raise Unsupported("addmm that is not a linear layer")
    return _dense(ctx, a["mat1"], w.t().contiguous(), a["mat2"], b, a["self"])


def batch_norm(ctx, a):
    names = {}
    params = {}
    for k in ("weight", "bias", "running_mean", "running_var"):
        src = a.get(k) if k in a else a.get(k.replace("running_", ""))
        if src is None:
            continue
        params[k] = ctx.param(src)
        names[k] = ctx.param_name(src)
    if "running_mean" not in params or "running_var" not in params:
        raise Unsupported("batch norm without running statistics cannot be folded")
    if a.get("training"):
        raise Unsupported("batch norm in training mode")
    return Node("", "batchnorm", [ctx.input_name(a["input"])], {"eps": float(a["eps"])}, params,
                param_names=names, quant="own")


def native_batch_norm(ctx, a):
    return batch_norm(ctx, dict(a, running_mean=a["running_mean"], running_var=a["running_var"]))


DPU_ACTS = ("relu", "relu6", "leaky-relu", "hard-sigmoid", "hard-swish")


def _unary(kind, **attrs):
    def lower(ctx, a):
        own = kind in DPU_ACTS
        return Node("", kind, [ctx.input_name(a.get("self", a.get("input")))], dict(attrs),
                    quant="own" if own else "float", reason="" if own else f"{kind} has no DPU engine")
    return lower


def hardtanh(ctx, a):
    lo, hi = float(a["min_val"]), float(a["max_val"])
    if (lo, hi) == (0.0, 6.0):
        return _unary("relu6")(ctx, a)
    raise Unsupported(f"hardtanh({lo}, {hi}) is not ReLU6")


def clamp(ctx, a):
    lo, hi = a.get("min"), a.get("max")
    if lo is not None and float(lo) == 0.0 and hi is None:
        return _unary("relu")(ctx, a)
    if lo is not None and hi is not None and (float(lo), float(hi)) == (0.0, 6.0):
        return _unary("relu6")(ctx, a)
    raise Unsupported(f"clamp({lo}, {hi}) is neither ReLU nor ReLU6")


def leaky_relu(ctx, a):
    return Node("", "leaky-relu", [ctx.input_name(a["self"])], {"alpha": float(a["negative_slope"])}, quant="own")


def softmax(ctx, a):
    return Node("", "softmax", [ctx.input_name(a["self"])], {"dim": int(a["dim"])}, quant="float",
                reason="softmax has no DPU engine")


def _binary(kind):
    def lower(ctx, a):
        x, y = a["self"], a["other"]
        if a.get("alpha", 1) not in (1, None):
            raise Unsupported(f"{kind} with alpha != 1")
        if isinstance(y, torch.fx.Node) and not ctx.is_param(y) and isinstance(x, torch.fx.Node) \
                and not ctx.is_param(x):
            return Node("", kind, [ctx.input_name(x), ctx.input_name(y)], {},
                        quant="own" if kind in ("add", "mul") else "float",
                        reason="" if kind in ("add", "mul") else f"element-wise {kind} has no DPU engine")
        bn = _channel_affine(ctx, kind, x, y)
        if bn is not None:
            return bn
        for t, v, rev in ((x, y, False), (y, x, True)):      # a tensor and a Python number: a CPU op
            if isinstance(t, torch.fx.Node) and not ctx.is_param(t) and isinstance(v, (int, float)) \
                    and not isinstance(v, bool):
                return Node("", kind, [ctx.input_name(t)], {"scalar": float(v), "reverse": rev}, quant="float",
                            reason=f"{kind} by the constant {v:g} has no DPU engine")
        raise Unsupported(f"{kind} with a constant operand has no DPU engine")
    return lower


#: y = x * scale + shift of an element-wise op with the constant c: (scale, shift) as functions of c
_AFFINE = {("mul", False): lambda c: (c, torch.zeros_like(c)), ("mul", True): lambda c: (c, torch.zeros_like(c)),
           ("add", False): lambda c: (torch.ones_like(c), c), ("add", True): lambda c: (torch.ones_like(c), c),
           ("sub", False): lambda c: (torch.ones_like(c), -c), ("sub", True): lambda c: (-torch.ones_like(c), c),
           ("div", False): lambda c: (1.0 / c, torch.zeros_like(c))}


def _channel_affine(ctx, kind, x, y) -> Node | None:
    """An image [N, C, H, W] times / plus / minus / divided by a constant per-channel tensor ([C, 1, 1] or
    [1, C, 1, 1]; a constant on the left too, except for div) is a BatchNorm with those statistics (mean 0,
    variance 1, eps 0: scale and shift exactly the constant's), which prepare folds into the conv before it or
    makes a depthwise conv (vaiq/prepare.py fold_batchnorm); None when the operands are not of that form."""
    for img, const, rev in ((x, y, False), (y, x, True)):
        if not (isinstance(img, torch.fx.Node) and not ctx.is_param(img) and ctx.is_param(const)) \
                or (kind, rev) not in _AFFINE:
            continue
        val = img.meta.get("val")
        c = ctx.param(const)
        if val is None or val.dim() != 4 or c.dim() not in (3, 4) or c.numel() != val.shape[1] \
                or c.shape[-3] != val.shape[1]:
            return None
        c = c.reshape(-1)
        scale, shift = _AFFINE[(kind, rev)](c)
        params = {"weight": scale, "bias": shift, "running_mean": torch.zeros_like(c),
                  "running_var": torch.ones_like(c)}
        return Node("", "batchnorm", [ctx.input_name(img)], {"eps": 0.0}, params,
                    param_names={"weight" if kind in ("mul", "div") else "bias": ctx.param_name(const)},
                    quant="own")
    return None


def rsub(ctx, a):
    """``other - self`` (torch's ``1 - x``): a sub with the operands swapped."""
    return _binary("sub")(ctx, {"self": a["other"], "other": a["self"], "alpha": a.get("alpha", 1)})


def neg(ctx, a):
    """``-x``: a multiply by the constant -1 (exact in float), the CPU op ``x * -1`` is."""
    return _binary("mul")(ctx, {"self": a["self"], "other": -1.0})


def cat(ctx, a):
    ins = [ctx.input_name(t) for t in a["tensors"]]
    return Node("", "concat", ins, {"dim": int(a["dim"])}, quant="own")


def max_pool2d(ctx, a):
    k = _pair(a["kernel_size"])
    s = _pair(a["stride"]) if a["stride"] else k
    if any(d != 1 for d in _pair(a["dilation"])):
        raise Unsupported("dilated max-pool")
    return Node("", "maxpool2d", [ctx.input_name(a["self"])],
                {"kernel": k, "stride": s, "padding": _pair(a["padding"]), "ceil_mode": bool(a["ceil_mode"])},
                quant="shared")


def avg_pool2d(ctx, a):
    k = _pair(a["kernel_size"])
    s = _pair(a["stride"]) if a["stride"] else k
    if a.get("divisor_override") is not None:
        raise Unsupported("avg-pool with divisor_override")
    return Node("", "avgpool2d", [ctx.input_name(a["self"])],
                {"kernel": k, "stride": s, "padding": _pair(a["padding"]), "ceil_mode": bool(a["ceil_mode"]),
                 "count_include_pad": bool(a["count_include_pad"])}, quant="own")


def adaptive_window(size: int, out: int) -> tuple[int, int] | None:
    """(kernel, stride) of a fixed window equal to adaptive pooling ``size`` -> ``out`` along one dim, or
    None. torch's bin i spans [floor(i * size / out), ceil((i + 1) * size / out)); the bins are one window
    sliding without padding when every bin has the same length and consecutive bins start one stride
    apart (always when out divides size; also e.g. 9 -> 2: kernel 5, stride 4)."""
    starts = [i * size // out for i in range(out)]
    lengths = {-(-(i + 1) * size // out) - s for i, s in enumerate(starts)}
    steps = {b - a for a, b in zip(starts, starts[1:])}
    if len(lengths) != 1 or len(steps) > 1:
        return None
    k = lengths.pop()
    stride = steps.pop() if steps else k
    return (k, stride) if stride > 0 else None


def adaptive_avg_pool2d(ctx, a):
    x = a["self"]
    h, w = x.meta["val"].shape[-2:]
    oh, ow = _pair(a["output_size"])
    wh, ww = adaptive_window(h, oh), adaptive_window(w, ow)
    if wh is None or ww is None:
        raise Unsupported(f"adaptive avg-pool {h}x{w} -> {oh}x{ow} is not a fixed window (bins of "
                          "different sizes or overlapping unevenly); pool to a size that gives equal bins")
    return Node("", "avgpool2d", [ctx.input_name(x)],
                {"kernel": (wh[0], ww[0]), "stride": (wh[1], ww[1]), "padding": (0, 0), "ceil_mode": False,
                 "count_include_pad": True}, quant="own")


def mean_dim(ctx, a):
    x = a["self"]
    dims = sorted(d % x.meta["val"].dim() for d in (a["dim"] or []))
    if x.meta["val"].dim() == 4 and dims == [2, 3]:
        h, w = x.meta["val"].shape[-2:]
        node = Node("", "avgpool2d", [ctx.input_name(x)],
                    {"kernel": (h, w), "stride": (h, w), "padding": (0, 0), "ceil_mode": False,
                     "count_include_pad": True}, quant="own")
        if not a.get("keepdim"):
            node.attrs["squeeze"] = True
        return node
    return Node("", "reduction_mean", [ctx.input_name(x)], {"dims": dims, "keepdim": bool(a.get("keepdim"))},
                quant="float", reason="a mean that is not a global average pool has no DPU engine")


def flatten(ctx, a):
    return Node("", "flatten", [ctx.input_name(a["self"])],
                {"start_dim": int(a["start_dim"]), "end_dim": int(a["end_dim"])}, quant="shared")


def view(ctx, a):
    """A reshape; one that merges the trailing dims of its input into one (batch kept) is a flatten,
    so the batch size is not baked in whichever way torch.export decomposed ``flatten``."""
    shape = a.get("size", a.get("shape"))
    src = tuple(a["self"].meta["val"].shape)
    out = tuple(ctx.fx.meta["val"].shape)
    k = len(out) - 1
    if 1 <= k < len(src) - 1 and out[:k] == src[:k] and out[k] == _prod(src[k:]):
        return Node("", "flatten", [ctx.input_name(a["self"])], {"start_dim": k, "end_dim": -1}, quant="shared")
    return Node("", "reshape", [ctx.input_name(a["self"])], {"shape": tuple(int(s) for s in shape)},
                quant="shared")


def permute(ctx, a):
    return Node("", "transpose", [ctx.input_name(a["self"])], {"dims": tuple(int(d) for d in a["dims"])},
                quant="shared")


def transpose_int(ctx, a):
    x = a["self"]
    n = x.meta["val"].dim()
    d0, d1 = int(a["dim0"]) % n, int(a["dim1"]) % n
    order = list(range(n))
    order[d0], order[d1] = order[d1], order[d0]
    return Node("", "transpose", [ctx.input_name(x)], {"dims": tuple(order)}, quant="shared")


def slice_(ctx, a):
    x = a["self"]
    n = x.meta["val"].dim()
    size = x.meta["val"].shape[int(a["dim"]) % n]
    start = 0 if a["start"] is None else int(a["start"])
    end = size if a["end"] is None else min(int(a["end"]), size)
    return _slice(ctx, x, int(a["dim"]) % n, start, end, int(a["step"]))


def identity(ctx, a):
    return None


def dropout(ctx, a):
    """Dropout variants are the identity in eval mode; ``train=True`` (``F.dropout(x, p)`` without
    ``training=self.training``) draws random masks, which no deployed model can do."""
    if a.get("train") and float(a.get("p") or 0.0) > 0.0:
        raise CaptureError(f"'{ctx.fx.name}' is dropout with train=True in eval mode (random at inference); "
                           "pass training=self.training to F.dropout or use nn.Dropout")
    return None


def silu(ctx, a):
    """SiLU / Swish ``x * sigmoid(x)``: a sigmoid (float, CPU) and a quantized multiply; prepare turns
    the pair into hard-swish under ``convert_silu_to_hswish``."""
    x = ctx.input_name(a["self"])
    sig = Node(f"{ctx.fx.name}_sigmoid", "sigmoid", [x], quant="float", reason="sigmoid has no DPU engine")
    return [sig, Node("", "mul", [x, sig.name], quant="own")]


def _prod(dims) -> int:
    out = 1
    for d in dims:
        out *= int(d)
    return out


def _slice(ctx, x, dim: int, start: int, end: int, step: int = 1) -> Node:
    return Node("", "strided_slice", [ctx.input_name(x)], {"dim": dim, "start": start, "end": end, "step": step},
                quant="shared")


def constant_pad(ctx, a):
    """Rule: torch's pad list runs from the last dim backwards; W only (2 entries) and H/W with zeros
    for the dims before (6 or 8 entries) are H/W padding; all zero is no op (a U-Net's F.pad of a map
    that needs none, ``nodes`` None aliases it)."""
    pad = tuple(int(p) for p in a["pad"])
    x = a["self"] if "self" in a else a["input"]
    if len(pad) == 2 and x.meta["val"].dim() == 4:
        pad += (0, 0)
    if len(pad) in (6, 8) and not any(pad[4:]):
        pad = pad[:4]
    if len(pad) != 4 or min(pad) < 0:
        raise Unsupported("only non-negative H/W padding is quantized")
    if not any(pad):
        return None
    return Node("", "pad", [ctx.input_name(a["self"])], {"pad": pad, "value": float(a.get("value") or 0.0)},
                quant="shared" if float(a.get("value") or 0.0) == 0.0 else "float",
                reason="" if float(a.get("value") or 0.0) == 0.0 else "padding with a non-zero value")


def pad_any(ctx, a):
    mode = a.get("mode", "constant")
    if mode == "reflect":
        return reflection_pad(ctx, a)
    if mode != "constant":
        raise Unsupported(f"{mode} padding has no XIR equivalent (XIR pads CONSTANT, REFLECT or SYMMETRIC)")
    return constant_pad(ctx, a)


def reflection_pad(ctx, a):
    """Reflect padding of H and W (``nn.ReflectionPad2d``, ``Conv2d(padding_mode="reflect")``): XIR's
    pad in REFLECT mode (numpy's reflect, torch's), a data movement that shares its input's fix
    position; the DPU has no engine for it, so it runs on the CPU, exactly."""
    pad = tuple(int(p) for p in a.get("pad", a.get("padding")))
    x = a["self"] if "self" in a else a["input"]
    if x.meta["val"].dim() != 4 or len(pad) not in (2, 4) or min(pad) < 0:
        raise Unsupported("only non-negative H/W reflect padding of an image is quantized")
    pad += (0, 0) * ((4 - len(pad)) // 2)
    if not any(pad):
        return None
    return Node("", "pad", [ctx.input_name(x)], {"pad": pad, "value": 0.0, "mode": "reflect"}, quant="shared")


def upsample_nearest(ctx, a):
    x = a["input"] if "input" in a else a["self"]
    h, w = x.meta["val"].shape[-2:]
    out = ctx.fx.meta["val"].shape[-2:]
    if out[0] % h or out[1] % w:     # torch's nearest: source index floor(i * in / out), XIR's NEAREST resize
        return Node("", "resize", [ctx.input_name(x)],
                    {"size": tuple(int(s) for s in out), "mode": "NEAREST", "align_corners": False},
                    quant="float", reason=f"nearest resize {h}x{w} -> {tuple(int(s) for s in out)} is not an "
                    "integer upsample, so it runs on the CPU")
    return Node("", "upsample", [ctx.input_name(x)], {"scale": (out[0] // h, out[1] // w)}, quant="shared")


def upsample_bilinear(ctx, a):
    x = a["input"]
    out = ctx.fx.meta["val"].shape[-2:]
    return Node("", "resize", [ctx.input_name(x)],
                {"size": tuple(int(s) for s in out), "mode": "BILINEAR", "align_corners": bool(a["align_corners"])},
                quant="float", reason="bilinear resize runs on the CPU")


def matmul(ctx, a):
    other = a.get("other", a.get("mat2"))
    if ctx.is_param(other) and other.meta["val"].dim() == 2 and a["self"].meta["val"].dim() == 2:
        return _dense(ctx, a["self"], ctx.param(other).t().contiguous(), other)   # x @ W^T: a linear layer
    return Node("", "matmul", [ctx.input_name(a["self"]), ctx.input_name(a.get("other", a.get("mat2")))], {},
                quant="float", reason="a product of two computed tensors has no DPU engine")


# ---- ops with several outputs: fn(ctx, args, index) lowers output ``index`` (ctx.fx is its getitem)
def _split_bounds(size: int, sizes) -> list[tuple[int, int]]:
    out, start = [], 0
    for s in sizes:
        out.append((start, min(start + int(s), size)))
        start += int(s)
    return out


def _split_at(bounds_of):
    def lower(ctx, a, index):
        x = a["self"]
        n = x.meta["val"].dim()
        dim = int(a.get("dim", 0)) % n
        size = int(x.meta["val"].shape[dim])
        start, end = bounds_of(a, size)[index]
        return _slice(ctx, x, dim, start, end)
    return lower


def _chunk_bounds(a, size):
    step = -(-size // int(a["chunks"]))
    return _split_bounds(size, [step] * (-(-size // step)))


split_tensor = _split_at(lambda a, size: _split_bounds(size, [int(a["split_size"])] *
                                                       (-(-size // int(a["split_size"])))))
split_with_sizes = _split_at(lambda a, size: _split_bounds(size, a.get("split_sizes", a.get("split_size"))))
chunk = _split_at(_chunk_bounds)


def unbind(ctx, a, index):
    """Output ``index`` of unbind: a one-wide slice and a reshape that drops the dim."""
    x = a["self"]
    dim = int(a["dim"]) % x.meta["val"].dim()
    sl = _slice(ctx, x, dim, index, index + 1)
    sl.name = f"{ctx.fx.name}_slice"
    sl.shape = tuple(1 if i == dim else int(d) for i, d in enumerate(x.meta["val"].shape))
    return [sl, Node("", "reshape", [sl.name], {"shape": tuple(int(s) for s in ctx.fx.meta["val"].shape)},
                     quant="shared")]


def max_dim(ctx, a, index):
    """``max(x, dim)``: the values are a float (CPU) reduction; the indices (argmax) are not modelled."""
    if index != 0:
        raise Unsupported("the indices of max(dim) (an argmax) have no XIR equivalent")
    x = a["self"]
    dim = int(a["dim"]) % x.meta["val"].dim()
    return Node("", "reduction_max", [ctx.input_name(x)], {"dims": [dim], "keepdim": bool(a["keepdim"])},
                quant="float", reason="a max over a dim has no DPU engine")


def first_output(ctx, a, index):
    """Ops whose output 0 is the value (native_dropout's mask is output 1)."""
    if index != 0:
        raise Unsupported(f"output {index} of '{packet_name(ctx.fx.args[0].target)}' is not modelled")
    return None


def native_dropout(ctx, a, index):
    dropout(ctx, dict(a, train=a.get("train")))
    return first_output(ctx, a, index)


def packet_name(target) -> str:
    """The op name of an aten overload without its overload (``relu_`` for ``aten.relu_.default``)."""
    return getattr(getattr(target, "overloadpacket", None), "__name__", str(target))


MULTI = {
    aten.split.Tensor: split_tensor,
    aten.split.sizes: split_with_sizes,
    aten.split_with_sizes.default: split_with_sizes,
    aten.chunk.default: chunk,
    aten.unbind.int: unbind,
    aten.max.dim: max_dim,
    aten.native_dropout.default: native_dropout,
}


def out_of_place_twin(target):
    """``aten.X.ov`` for an in-place ``aten.X_.ov`` or a functionalized ``aten.X_functional.ov``; None
    for any other target."""
    if not isinstance(target, torch._ops.OpOverload):
        return None
    name = packet_name(target)
    if name.endswith("_") and not name.startswith("__"):
        base = name[:-1]
    elif name.endswith("_functional"):
        base = name[: -len("_functional")]
    else:
        return None
    packet = getattr(aten, base, None)
    return getattr(packet, target._overloadname, None) if packet is not None else None


def lowering(target):
    """``(kind, fn)`` for an aten target: ("single", fn) from LOWER, ("multi", fn) from MULTI (an
    in-place or functionalized overload takes its twin's), or None when vaiq has no lowering."""
    for t in (target, out_of_place_twin(target)):
        if t is None:
            continue
        if t in LOWER:
            return "single", LOWER[t]
        if t in MULTI:
            return "multi", MULTI[t]
    return None


def _marker(kind):
    """QuantStub / DeQuantStub: a marker node that vaiq.regions consumes (never exported)."""
    def lower(ctx, a):
        return Node("", kind, [ctx.input_name(a["x"])], quant="shared")
    return lower


LOWER = {
    aten.conv2d.default: conv2d,
    aten.conv2d.padding: conv2d_padding,
    aten.convolution.default: convolution,
    aten.conv_transpose2d.input: conv_transpose2d,
    aten.linear.default: linear,
    aten.batch_norm.default: batch_norm,
    aten._native_batch_norm_legit_no_training.default: native_batch_norm,
    aten.relu.default: _unary("relu"),
    aten.relu6.default: _unary("relu6"),
    aten.hardtanh.default: hardtanh,
    aten.clamp.default: clamp,
    aten.leaky_relu.default: leaky_relu,
    aten.hardsigmoid.default: _unary("hard-sigmoid"),
    aten.hardswish.default: _unary("hard-swish"),
    aten.sigmoid.default: _unary("sigmoid"),
    aten.silu.default: silu,
    aten.tanh.default: _unary("tanh"),
    aten.softmax.int: softmax,
    aten._softmax.default: softmax,
    aten.add.Tensor: _binary("add"),
    aten.mul.Tensor: _binary("mul"),
    aten.sub.Tensor: _binary("sub"),
    aten.div.Tensor: _binary("div"),
    aten.add.Scalar: _binary("add"),
    aten.mul.Scalar: _binary("mul"),
    aten.sub.Scalar: _binary("sub"),
    aten.div.Scalar: _binary("div"),
    aten.rsub.Scalar: rsub,
    aten.neg.default: neg,
    aten.cat.default: cat,
    aten.concat.default: cat,
    aten.max_pool2d.default: max_pool2d,
    aten.max_pool2d_with_indices.default: max_pool2d,
    aten.avg_pool2d.default: avg_pool2d,
    aten.adaptive_avg_pool2d.default: adaptive_avg_pool2d,
    aten.mean.dim: mean_dim,
    aten.flatten.using_ints: flatten,
    aten.view.default: view,
    aten.reshape.default: view,
    aten._unsafe_view.default: view,
    aten.permute.default: permute,
    aten.transpose.int: transpose_int,
    aten.slice.Tensor: slice_,
    aten.dropout.default: dropout,
    aten.feature_dropout.default: dropout,
    aten.alpha_dropout.default: dropout,
    aten.feature_alpha_dropout.default: dropout,
    aten.clone.default: identity,
    aten.contiguous.default: identity,
    aten.alias.default: identity,
    aten.detach.default: identity,
    aten.constant_pad_nd.default: constant_pad,
    aten.pad.default: pad_any,
    aten.reflection_pad2d.default: reflection_pad,
    aten.upsample_nearest2d.vec: upsample_nearest,
    aten.upsample_nearest2d.default: upsample_nearest,
    aten.upsample_bilinear2d.vec: upsample_bilinear,
    aten.matmul.default: matmul,
    aten.mm.default: matmul,
    aten.addmm.default: addmm,
    aten.bmm.default: matmul,
}

LOWER.update({op: _marker(kind) for op, kind in MARKERS.items()})
