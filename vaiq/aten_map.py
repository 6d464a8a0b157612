"""Lowering of aten ops (as torch.export emits them) to nodes of the xir op library.

Rule: one lowering per aten op; it returns a Node with torch-convention attributes, ``None`` for an
op that is the identity in eval mode (dropout, clone, contiguous, alias), or raises Unsupported with
the reason the op must stay a float (CPU) op.
"""
from __future__ import annotations

import torch

from .ir import Node

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


def linear(ctx, a):
    w = ctx.param(a["weight"])
    b = ctx.param(a.get("bias"))
    params, names = {"weight": w}, {"weight": ctx.param_name(a["weight"])}
    if b is not None:
        params["bias"], names["bias"] = b, ctx.param_name(a["bias"])
    return Node("", "inner-product", [ctx.input_name(a["input"])], {}, params, param_names=names, quant="own")


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
        raise Unsupported(f"{kind} with a constant operand has no DPU engine")
    return lower


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


def adaptive_avg_pool2d(ctx, a):
    x = a["self"]
    h, w = x.meta["val"].shape[-2:]
    oh, ow = _pair(a["output_size"])
    if h % oh or w % ow:
        raise Unsupported(f"adaptive avg-pool {h}x{w} -> {oh}x{ow} is not a fixed window")
    kh, kw = h // oh, w // ow
    return Node("", "avgpool2d", [ctx.input_name(x)],
                {"kernel": (kh, kw), "stride": (kh, kw), "padding": (0, 0), "ceil_mode": False,
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
    shape = a.get("size", a.get("shape"))
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
    return Node("", "strided_slice", [ctx.input_name(x)],
                {"dim": int(a["dim"]) % n, "start": start, "end": end, "step": int(a["step"])}, quant="shared")


def identity(ctx, a):
    return None


def constant_pad(ctx, a):
    pad = tuple(int(p) for p in a["pad"])
    if len(pad) != 4 or min(pad) < 0:
        raise Unsupported("only non-negative H/W padding is quantized")
    return Node("", "pad", [ctx.input_name(a["self"])], {"pad": pad, "value": float(a.get("value") or 0.0)},
                quant="shared" if float(a.get("value") or 0.0) == 0.0 else "float",
                reason="" if float(a.get("value") or 0.0) == 0.0 else "padding with a non-zero value")


def pad_any(ctx, a):
    if a.get("mode", "constant") != "constant":
        raise Unsupported(f"{a.get('mode')} padding has no DPU engine")
    return constant_pad(ctx, a)


def upsample_nearest(ctx, a):
    x = a["input"] if "input" in a else a["self"]
    h, w = x.meta["val"].shape[-2:]
    out = ctx.fx.meta["val"].shape[-2:]
    if out[0] % h or out[1] % w:
        raise Unsupported(f"nearest resize {h}x{w} -> {tuple(out)} is not an integer upsample")
    return Node("", "upsample", [ctx.input_name(x)], {"scale": (out[0] // h, out[1] // w)}, quant="shared")


def upsample_bilinear(ctx, a):
    x = a["input"]
    out = ctx.fx.meta["val"].shape[-2:]
    return Node("", "resize", [ctx.input_name(x)],
                {"size": tuple(int(s) for s in out), "mode": "BILINEAR", "align_corners": bool(a["align_corners"])},
                quant="float", reason="bilinear resize runs on the CPU")


def matmul(ctx, a):
    return Node("", "matmul", [ctx.input_name(a["self"]), ctx.input_name(a.get("other", a.get("mat2")))], {},
                quant="float", reason="a product of two computed tensors has no DPU engine")


LOWER = {
    aten.conv2d.default: conv2d,
    aten.conv2d.padding: conv2d_padding,
    aten.convolution.default: convolution,
    aten.conv_transpose2d.input: conv_transpose2d,
    aten.linear.default: linear,
    aten.batch_norm.default: batch_norm,
    aten._native_batch_norm_legit_no_training.default: native_batch_norm,
    aten.relu.default: _unary("relu"),
    aten.relu_.default: _unary("relu"),
    aten.relu6.default: _unary("relu6"),
    aten.hardtanh.default: hardtanh,
    aten.hardtanh_.default: hardtanh,
    aten.clamp.default: clamp,
    aten.leaky_relu.default: leaky_relu,
    aten.leaky_relu_.default: leaky_relu,
    aten.hardsigmoid.default: _unary("hard-sigmoid"),
    aten.hardsigmoid_.default: _unary("hard-sigmoid"),
    aten.hardswish.default: _unary("hard-swish"),
    aten.hardswish_.default: _unary("hard-swish"),
    aten.sigmoid.default: _unary("sigmoid"),
    aten.tanh.default: _unary("tanh"),
    aten.softmax.int: softmax,
    aten._softmax.default: softmax,
    aten.add.Tensor: _binary("add"),
    aten.add_.Tensor: _binary("add"),
    aten.mul.Tensor: _binary("mul"),
    aten.sub.Tensor: _binary("sub"),
    aten.div.Tensor: _binary("div"),
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
    aten.dropout.default: identity,
    aten.clone.default: identity,
    aten.contiguous.default: identity,
    aten.alias.default: identity,
    aten.detach.default: identity,
    aten.constant_pad_nd.default: constant_pad,
    aten.pad.default: pad_any,
    aten.upsample_nearest2d.vec: upsample_nearest,
    aten.upsample_nearest2d.default: upsample_nearest,
    aten.upsample_bilinear2d.vec: upsample_bilinear,
    aten.matmul.default: matmul,
    aten.mm.default: matmul,
    aten.bmm.default: matmul,
}
