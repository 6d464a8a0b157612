"""Test-mode execution: the integer semantics of docs/numerics.md computed with torch in float64.

Rule: every quantized node computes its exact dyadic value in float64 (exact: int8 products summed
stay far below 2^53), applies its activation exactly (ReLU6 clamp, LeakyReLU * 26/256, hard-sigmoid
relu6(x + 3) * 2731 / 2^14, hard-swish x * gate with the gate rounded once at fix 7 and saturated to
int8, avg-pool sum * factor / 2^shift), then rounds once to its output fix position with DPU_ROUND and
saturates. Float (CPU) nodes call the xir float kernels so both sides get the same bits. This must
equal the xir reference execution of the exported deploy graph element for element.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from xir import fixpoint
from xir.kernels import float_ops

from .calib import fake_quant, qbounds, round_t
from .ir import xir_resize
from .run_float import SCALAR_OPS, call_torch, scalar_op
from .run_layout import LAYOUT_KINDS, run_layout

HSIG_NUM, HSIG_SHIFT = fixpoint.HSIGMOID_NUM, fixpoint.HSIGMOID_SHIFT


def hsigmoid_exact(v: torch.Tensor) -> torch.Tensor:
    return torch.clamp(v + 3.0, 0.0, 6.0) * HSIG_NUM / 2.0 ** HSIG_SHIFT


def act_exact(v: torch.Tensor, kind: str | None) -> torch.Tensor:
    if kind is None:
        return v
    if kind == "relu":
        return torch.clamp(v, min=0.0)
    if kind == "relu6":
        return torch.clamp(v, 0.0, 6.0)
    if kind == "leaky-relu":
        return torch.where(v >= 0, v, v * fixpoint.LEAKY_RELU_NUM / 2.0 ** fixpoint.LEAKY_RELU_SHIFT)
    if kind == "hard-sigmoid":
        return hsigmoid_exact(v)
    if kind == "hard-swish":
        g = fixpoint.HSWISH_GATE_FIX_POS
        lo, hi = qbounds(fixpoint.HSWISH_GATE_BIT_WIDTH)
        gate = torch.clamp(round_t(hsigmoid_exact(v) * 2.0 ** g, "DPU_ROUND"), lo, hi) / 2.0 ** g
        return v * gate
    raise ValueError(f"activation {kind} has no fixed-point form")


def _np_float(fn, x: torch.Tensor, **kw) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(fn(x.detach().cpu().numpy().astype(np.float32), **kw))).double()


def float_layer(n, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """A conv or dense layer kept float: the xir float kernels (NHWC), as the CPU runner computes it."""
    a = n.attrs
    xn = x.detach().float().numpy()
    w = params["weight"].detach().float()
    b = params["bias"].detach().float().numpy() if "bias" in params else None
    if n.kind == "conv2d":
        (sh, sw), (ph, pw), (dh, dw) = a["stride"], a["padding"], a["dilation"]
        y = float_ops.conv2d_float(np.transpose(xn, (0, 2, 3, 1)), w.permute(0, 2, 3, 1).numpy(), b,
                                   stride=(sw, sh), pad=(pw, pw, ph, ph), dilation=(dw, dh), group=a["groups"])
        return torch.from_numpy(np.ascontiguousarray(np.transpose(y, (0, 3, 1, 2)))).double()
    y = float_ops.matmul(xn.reshape(xn.shape[0], -1), w.numpy(), transpose_b=True)
    if b is not None:
        y = float_ops.add(y, b)
    return torch.from_numpy(y).double()


def run_node(n, xs: list[torch.Tensor], qparams: dict[str, torch.Tensor], fparams=None) -> torch.Tensor:
    """Exact (pre-rounding) value of a quantized node, or the float value of a CPU node."""
    a, k = n.attrs, n.kind
    if k in ("conv2d", "inner-product") and n.quant == "float":
        return _float_act_of(n, float_layer(n, xs[0], fparams))
    if k in LAYOUT_KINDS:
        return run_layout(n, xs)
    if k == "conv2d":
        y = F.conv2d(xs[0], qparams["weight"], None, a["stride"], a["padding"], a["dilation"], a["groups"])
    elif k == "transposed-conv2d":
        y = F.conv_transpose2d(xs[0], qparams["weight"], None, a["stride"], a["padding"],
                               a["output_padding"], a["groups"], a["dilation"])
    elif k == "inner-product":
        y = F.linear(xs[0], qparams["weight"])
    elif k in SCALAR_OPS and "scalar" in a:
        y = scalar_op(k, xs[0], a).double()
    elif k in ("add", "mul") and n.quant == "float":     # kept float (e.g. by a target): float32 as the CPU
        y = (xs[0].float() + xs[1].float() if k == "add" else xs[0].float() * xs[1].float()).double()
        return _float_act_of(n, y)
    elif k == "add":
        y = xs[0] + xs[1]
    elif k == "mul":
        y = xs[0] * xs[1]
    elif k == "avgpool2d":
        factor, shift = fixpoint.avgpool_factor_shift(*a["kernel"])
        y = F.avg_pool2d(xs[0], a["kernel"], a["stride"], a["padding"], a["ceil_mode"], True,
                         divisor_override=1) * factor / 2.0 ** shift
        if a.get("squeeze"):
            y = y.flatten(2).squeeze(-1)
    elif k in ("relu", "relu6", "leaky-relu", "hard-sigmoid", "hard-swish") and n.quant == "float":
        y = _np_float(lambda v: float_act(v.astype(np.float64), k, a).astype(np.float32), xs[0])
    elif k in ("relu", "relu6", "leaky-relu", "hard-sigmoid", "hard-swish"):
        y = act_exact(xs[0], k)
    # ---- float (CPU) nodes: the xir float kernels, so every implementation gets the same bits
    elif k == "sigmoid":
        y = _np_float(float_ops.sigmoid, xs[0])
    elif k == "tanh":
        y = _np_float(float_ops.tanh, xs[0])
    elif k == "softmax":
        y = _np_float(float_ops.softmax, xs[0], axis=a["dim"])
    elif k == "sub":
        y = (xs[0].float() - xs[1].float()).double()
    elif k == "div":
        y = (xs[0].float() / xs[1].float()).double()
    elif k == "matmul":
        y = torch.matmul(xs[0], xs[1]).float().double()
    elif k == "reduction_mean":
        y = _np_float(float_ops.reduce_mean, xs[0], axis=tuple(a["dims"]), keep_dims=a["keepdim"])
    elif k == "reduction_max":
        y = _np_float(float_ops.reduce_max, xs[0], axis=tuple(a["dims"]), keep_dims=a["keepdim"])
    elif k == "resize":
        nhwc = xs[0].permute(0, 2, 3, 1)
        y = _np_float(float_ops.resize, nhwc, size=(a["size"][1], a["size"][0]), **xir_resize(a)).permute(0, 3, 1, 2)
    elif k == "torch":
        y = call_torch(n, [x.float() for x in xs]).double()
    else:
        raise ValueError(f"node '{n.name}': no test-mode implementation for kind {k}")
    if k in ("conv2d", "transposed-conv2d", "inner-product") and "bias" in qparams:
        b = qparams["bias"]
        y = y + (b.reshape(1, -1, 1, 1) if y.dim() == 4 else b)
    if n.act is not None:
        y = act_exact(y, n.act)
    return y


def _float_act_of(n, y: torch.Tensor) -> torch.Tensor:
    """The fused activation of a node kept float after fusion (a target's verdict), in float."""
    if n.act is None:
        return y
    return _np_float(lambda v: float_act(v.astype(np.float64), n.act, n.act_attrs).astype(np.float32), y)


def float_act(x: np.ndarray, kind: str, attrs: dict) -> np.ndarray:
    """A float (CPU) activation as the xir float executor computes it (float64, float32 slope)."""
    if kind == "relu":
        return np.maximum(x, 0.0)
    if kind == "relu6":
        return np.clip(x, 0.0, 6.0)
    if kind == "leaky-relu":
        return np.where(x >= 0, x, x * float(np.float32(attrs["alpha"])))
    if kind == "hard-sigmoid":
        return np.clip(x + 3.0, 0.0, 6.0) / 6.0
    return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0


def quantize_out(y: torch.Tensor, fp: int, bw: int, mode: str = "DPU_ROUND") -> torch.Tensor:
    """The single rounding of a fixed op: ``mode`` (DPU_ROUND by default) to ``fp``, saturate to ``bw`` bits."""
    return fake_quant(y, fp, bw, mode)
