"""Layers with weights and windows: Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, pools.

Rules:
- Conv / ConvTranspose with constant weights become ``nn.Conv{1,2,3}d`` / ``nn.ConvTranspose{1,2,3}d``,
  Gemm and MatMul with a constant 2-D right operand ``nn.Linear`` (Gemm's alpha folded into the weight,
  beta into the bias; a MatMul whose only reader adds a constant vector takes it as its bias),
  BatchNormalization with constant statistics ``nn.BatchNorm{1,2,3}d``: the modules vaiq's capture
  knows, registered under the ONNX node's name, so quant_info.json and the xmodel carry it;
- unequal begin/end pads are an explicit pad before the op (zeros for conv and average pools, -inf
  for max pools); a transposed conv's unequal pads crop its output;
- AveragePool without count_include_pad and with explicit pads divides by the count of real pixels;
- computed weights run as the functional op (float on the CPU).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Call, NotConverted, OnnxOp, Operands
from .geometry import torch_pad, window

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONVT = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}
_POOL_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_POOL_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


class PadThen(OnnxOp):
    """An explicit pad, then the wrapped layer (the pad belongs to the same ONNX node)."""

    def __init__(self, layer: nn.Module, pad: list[int], value: float = 0.0):
        super().__init__()
        self.layer = layer
        self.pad = pad
        self.value = value
        self.reads = (0,)

    def forward(self, x):
        return self.layer(F.pad(x, self.pad, value=self.value))


def _single(ctx):
    if any(ctx.used[1:]):
        raise NotConverted(f"{ctx.op}'s extra outputs are read")


def conv(ctx):
    _single(ctx)
    w, b = ctx.const(1), ctx.const(2) if ctx.has(2) else None
    k = ctx.rank(0) - 2
    if w is None or (ctx.has(2) and b is None) or k not in _CONV:
        raise NotConverted("Conv with computed weights or bias")
    kernel = list(w.shape[2:])
    strides, dil, begin, end = window(ctx, kernel, ctx.shape(0)[2:])
    group = int(ctx.attr("group", 1))
    layer = _CONV[k](w.shape[1] * group, w.shape[0], kernel, stride=strides, padding=begin if begin == end else 0,
                     dilation=dil, groups=group, bias=b is not None)
    with torch.no_grad():
        layer.weight.copy_(w)
        if b is not None:
            layer.bias.copy_(b)
    if begin == end:
        layer.reads = (0,)
        return layer
    return PadThen(layer, torch_pad(begin, end))


class CroppedConvT(OnnxOp):
    """A transposed conv whose output loses ``crop`` (begin, end per spatial axis) pixels."""

    def __init__(self, layer: nn.Module, crop: list[tuple[int, int]]):
        super().__init__()
        self.layer = layer
        self.crop = crop
        self.reads = (0,)

    def forward(self, x):
        y = self.layer(x)
        for i, (b, e) in enumerate(self.crop):
            if b or e:
                y = y.narrow(2 + i, b, y.shape[2 + i] - b - e)
        return y


def conv_transpose(ctx):
    _single(ctx)
    w, b = ctx.const(1), ctx.const(2) if ctx.has(2) else None
    k = ctx.rank(0) - 2
    if w is None or (ctx.has(2) and b is None) or k not in _CONVT:
        raise NotConverted("ConvTranspose with computed weights or bias")
    kernel = list(w.shape[2:])
    group = int(ctx.attr("group", 1))
    strides = list(ctx.attr("strides", [1] * k))
    dil = list(ctx.attr("dilations", [1] * k))
    outpad = list(ctx.attr("output_padding", [0] * k))
    ins = ctx.shape(0)[2:]
    auto = ctx.attr("auto_pad", "NOTSET")
    full = [strides[i] * (ins[i] - 1) + outpad[i] + (kernel[i] - 1) * dil[i] + 1 for i in range(k)]
    if ctx.attr("output_shape") is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        want = list(ctx.attr("output_shape"))[-k:] if ctx.attr("output_shape") is not None \
            else [ins[i] * strides[i] for i in range(k)]
        total = [full[i] - want[i] for i in range(k)]
        if min(total) < 0:
            raise NotConverted("ConvTranspose output_shape larger than the full output")
        if auto == "SAME_UPPER":
            begin, end = [t // 2 for t in total], [t - t // 2 for t in total]
        else:
            begin, end = [t - t // 2 for t in total], [t // 2 for t in total]
    else:
        pads = list(ctx.attr("pads", [0] * (2 * k)))
        begin, end = pads[:k], pads[k:]
    common = [min(b, e) for b, e in zip(begin, end)]
    if any(o >= max(s, d) for o, s, d in zip(outpad, strides, dil)):
        raise NotConverted("ConvTranspose output_padding not smaller than its stride or dilation")
    layer = _CONVT[k](w.shape[0], w.shape[1] * group, kernel, stride=strides, padding=common,
                      output_padding=outpad, groups=group, bias=b is not None, dilation=dil)
    with torch.no_grad():
        layer.weight.copy_(w)
        if b is not None:
            layer.bias.copy_(b)
    crop = [(bb - c, ee - c) for bb, ee, c in zip(begin, end, common)]
    if not any(b or e for b, e in crop):
        layer.reads = (0,)
        return layer
    return CroppedConvT(layer, crop)


class Linear(nn.Linear):
    """``nn.Linear``; ``trans_input`` transposes a 2-D input first (Gemm's transA)."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor | None, trans_input: bool = False):
        super().__init__(w.shape[1], w.shape[0], bias=b is not None)
        with torch.no_grad():
            self.weight.copy_(w)
            if b is not None:
                self.bias.copy_(b)
        self.trans_input = trans_input
        self.reads = (0,)

    def forward(self, x):
        return super().forward(x.t() if self.trans_input else x)


def _bias_vector(c: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """``c`` as a length-``n`` vector when it broadcasts along the last axis only, else None."""
    if c is None:
        return None
    if c.numel() == 1:
        return c.reshape(()).expand(n).clone()
    if c.shape[-1] == n and c.numel() == n:
        return c.reshape(n).clone()
    return None


def gemm(ctx):
    _single(ctx)
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    ta, tb = int(ctx.attr("transA", 0)), int(ctx.attr("transB", 0))
    bmat = ctx.const(1)
    if bmat is None or ctx.const(0) is not None:
        return _gemm_functional(ctx, alpha, beta, ta, tb)
    w = (bmat if tb else bmat.t()) * alpha                     # (N, K)
    c = ctx.const(2) if ctx.has(2) else None
    if ctx.has(2) and c is None:
        return _gemm_functional(ctx, alpha, beta, ta, tb)
    bias = _bias_vector(c * beta, w.shape[0]) if c is not None else None
    if c is not None and bias is None:
        return _gemm_functional(ctx, alpha, beta, ta, tb)
    return Linear(w.contiguous(), bias, bool(ta))


def _gemm(a, b, *rest, alpha, beta, ta, tb):
    y = torch.matmul(a.t() if ta else a, b.t() if tb else b)
    if alpha != 1.0:
        y = y * alpha
    if rest:
        y = y + (rest[0] * beta if beta != 1.0 else rest[0])
    return y


def _gemm_functional(ctx, alpha, beta, ta, tb):
    ops = Operands(ctx)
    slots = [ops.any(0, False), ops.any(1, False)] + ([ops.any(2)] if ctx.has(2) else [])
    return ops.call(_gemm, slots, alpha=alpha, beta=beta, ta=bool(ta), tb=bool(tb))


def matmul(ctx, bias: torch.Tensor | None = None):
    """MatMul; ``bias``: the constant vector of the Add that is its only reader (the builder fuses it)."""
    bmat = ctx.const(1)
    if bmat is not None and bmat.dim() == 2 and ctx.const(0) is None and ctx.rank(0) >= 2:
        return Linear(bmat.t().contiguous(), bias)
    if bias is not None:
        raise NotConverted("bias fusion needs a constant 2-D weight")
    ops = Operands(ctx)
    return ops.call(torch.matmul, [ops.any(0, False), ops.any(1, False)])


def matmul_bias(ctx, add_ctx, mm_out: str):
    """The constant vector a MatMul's reading Add adds (None when it is not one)."""
    bmat = ctx.const(1)
    if bmat is None or bmat.dim() != 2 or ctx.const(0) is not None or ctx.rank(0) < 2:
        return None
    other = 1 if add_ctx.node.input[0] == mm_out else 0
    c = add_ctx.const(other)
    if add_ctx.node.input[1 - other] != mm_out or c is None or c.dim() > 1:
        return None
    return _bias_vector(c, bmat.shape[1])


def batch_norm(ctx):
    _single(ctx)
    if int(ctx.attr("training_mode", 0)):
        raise NotConverted("BatchNormalization in training mode")
    ps = [ctx.const(i) for i in range(1, 5)]
    r = ctx.rank(0)
    if any(p is None for p in ps) or r not in _BN:
        raise NotConverted("BatchNormalization with computed statistics")
    scale, bias, mean, var = ps
    layer = _BN[r](scale.numel(), eps=float(ctx.attr("epsilon", 1e-5)))
    with torch.no_grad():
        layer.weight.copy_(scale)
        layer.bias.copy_(bias)
        layer.running_mean.copy_(mean)
        layer.running_var.copy_(var)
    layer.eval()
    layer.reads = (0,)
    return layer


class Pool(OnnxOp):
    """A max or average pool with its explicit pad (see the module rules)."""

    def __init__(self, fn, pad: list[int], value: float, kwargs: dict, divisor: torch.Tensor | None = None):
        super().__init__()
        self.fn = fn
        self.pad = pad
        self.value = value
        self.kwargs = kwargs
        self.reads = (0,)
        if divisor is not None:
            self.register_buffer("divisor", divisor)
        else:
            self.divisor = None

    def forward(self, x):
        if self.pad:
            x = F.pad(x, self.pad, value=self.value)
        y = self.fn(x, **self.kwargs)
        return y if self.divisor is None else y / self.divisor


def _fits(begin, end, kernel, dil=None) -> bool:
    """torch pads symmetrically and at most half the (dilated) kernel."""
    dil = dil or [1] * len(kernel)
    return begin == end and all(p <= ((k - 1) * d + 1) // 2 for p, k, d in zip(begin, kernel, dil))


def max_pool(ctx):
    if ctx.used[1:] and any(ctx.used[1:]):
        raise NotConverted("MaxPool's Indices output is read")
    kernel = list(ctx.attr("kernel_shape"))
    k = len(kernel)
    if k not in _POOL_MAX or int(ctx.attr("storage_order", 0)):
        raise NotConverted(f"{k}-D MaxPool or storage_order=1")
    strides, dil, begin, end = window(ctx, kernel, ctx.shape(0)[2:])
    ceil = bool(ctx.attr("ceil_mode", 0))
    kw = {"kernel_size": kernel, "stride": strides, "dilation": dil, "ceil_mode": ceil}
    if _fits(begin, end, kernel, dil):
        return Pool(_POOL_MAX[k], [], 0.0, dict(kw, padding=begin))
    if ceil:
        raise NotConverted("MaxPool with ceil_mode and pads torch cannot express")
    return Pool(_POOL_MAX[k], torch_pad(begin, end), float("-inf"), dict(kw, padding=0))


def avg_pool(ctx):
    kernel = list(ctx.attr("kernel_shape"))
    k = len(kernel)
    if k not in _POOL_AVG or any(d != 1 for d in ctx.attr("dilations", [1] * k)):
        raise NotConverted("AveragePool with dilations or more than 3 spatial axes")
    strides, _, begin, end = window(ctx, kernel, ctx.shape(0)[2:])
    ceil = bool(ctx.attr("ceil_mode", 0))
    cip = bool(ctx.attr("count_include_pad", 0))
    kw = {"kernel_size": kernel, "stride": strides, "ceil_mode": ceil}
    if _fits(begin, end, kernel):
        return Pool(_POOL_AVG[k], [], 0.0, dict(kw, padding=begin, count_include_pad=cip))
    if ceil:
        raise NotConverted("AveragePool with ceil_mode and pads torch cannot express")
    pad = torch_pad(begin, end)
    kw = dict(kw, padding=0, count_include_pad=True)
    divisor = None
    if not cip:       # the share of real pixels in each window
        ones = torch.ones((1, 1) + ctx.shape(0)[2:])
        divisor = _POOL_AVG[k](F.pad(ones, pad), **kw)
    return Pool(_POOL_AVG[k], pad, 0.0, kw, divisor)


def _global(fn):
    def convert(ctx):
        dims = tuple(range(2, ctx.rank(0)))
        return Call(fn, [("x", 0)], {"dim": dims, "keepdim": True}, reads=(0,))
    return convert


global_avg_pool = _global(torch.mean)
global_max_pool = _global(torch.amax)

LAYERS = {
    "Conv": conv, "ConvTranspose": conv_transpose, "Gemm": gemm, "MatMul": matmul,
    "BatchNormalization": batch_norm, "MaxPool": max_pool, "AveragePool": avg_pool,
    "GlobalAveragePool": global_avg_pool, "GlobalMaxPool": global_max_pool,
}
