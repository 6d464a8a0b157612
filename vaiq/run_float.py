"""Float execution of quantizer nodes (float mode and calibration).

Rule: each node computes what the original torch model computed (BatchNorm already folded), except
that with ``dpu_approx`` the hardware approximations replace the float formulas the DPU cannot run:
LeakyReLU slope 26/256, avg-pool sum * factor / 2^shift, hard-sigmoid relu6(x + 3) * 2731 / 2^14.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from xir import fixpoint

from .run_layout import LAYOUT_KINDS, run_layout

HSIG_SCALE = fixpoint.HSIGMOID_NUM / 2 ** fixpoint.HSIGMOID_SHIFT


def apply_act(y: torch.Tensor, kind: str | None, attrs: dict, dpu_approx: bool) -> torch.Tensor:
    if kind is None:
        return y
    if kind == "relu":
        return F.relu(y)
    if kind == "relu6":
        return torch.clamp(y, 0.0, 6.0)
    if kind == "leaky-relu":
        return F.leaky_relu(y, attrs.get("alpha", 0.01))
    if kind == "hard-sigmoid":
        return torch.clamp(y + 3.0, 0.0, 6.0) * HSIG_SCALE if dpu_approx else F.hardsigmoid(y)
    if kind == "hard-swish":
        return y * torch.clamp(y + 3.0, 0.0, 6.0) * HSIG_SCALE if dpu_approx else F.hardswish(y)
    if kind == "sigmoid":
        return torch.sigmoid(y)
    if kind == "tanh":
        return torch.tanh(y)
    raise ValueError(f"unknown activation {kind}")


def avgpool(x: torch.Tensor, a: dict, dpu_approx: bool) -> torch.Tensor:
    kh, kw = a["kernel"]
    if dpu_approx and a.get("count_include_pad", True):
        factor, shift = fixpoint.avgpool_factor_shift(kh, kw)
        y = F.avg_pool2d(x, a["kernel"], a["stride"], a["padding"], a["ceil_mode"], True, divisor_override=1)
        y = y * (factor / 2 ** shift)
    else:
        y = F.avg_pool2d(x, a["kernel"], a["stride"], a["padding"], a["ceil_mode"], a["count_include_pad"])
    return y.flatten(2).squeeze(-1) if a.get("squeeze") else y


SCALAR_OPS = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}


def scalar_op(kind: str, x: torch.Tensor, attrs: dict) -> torch.Tensor:
    """A tensor and a constant (``attrs["scalar"]``, on the left when ``reverse``), in float32 as the
    xir float executor computes it with a float32 const."""
    c = torch.tensor(attrs["scalar"], dtype=torch.float32)
    x = x.float()
    return SCALAR_OPS[kind](c, x) if attrs.get("reverse") else SCALAR_OPS[kind](x, c)


def call_torch(node, xs: list[torch.Tensor]):
    """Replay an unmapped aten call recorded at capture."""
    def build(t):
        tag = t[0]
        if tag == "input":
            return xs[t[1]]
        if tag == "param":
            return t[1]
        if tag == "seq":
            seq = [build(x) for x in t[2]]
            return tuple(seq) if t[1] == "tuple" else seq
        return t[1]
    args = [build(t) for t in node.attrs["args"]]
    kw = {k: build(v) for k, v in node.attrs["kwargs"].items()}
    out = node.attrs["target"](*args, **kw)
    return out[node.attrs.get("index", 0)] if isinstance(out, (tuple, list)) else out


def run_node(n, xs: list[torch.Tensor], params: dict[str, torch.Tensor], dpu_approx: bool) -> torch.Tensor:
    """Float value of node ``n`` from its input values ``xs``."""
    a = n.attrs
    k = n.kind
    if k in LAYOUT_KINDS:
        return run_layout(n, xs)
    if k == "conv2d":
        y = F.conv2d(xs[0], params["weight"], params.get("bias"), a["stride"], a["padding"], a["dilation"], a["groups"])
    elif k == "transposed-conv2d":
        y = F.conv_transpose2d(xs[0], params["weight"], params.get("bias"), a["stride"], a["padding"],
                               a["output_padding"], a["groups"], a["dilation"])
    elif k == "inner-product":
        y = F.linear(xs[0], params["weight"], params.get("bias"))
    elif k in SCALAR_OPS and "scalar" in a:
        y = scalar_op(k, xs[0], a)
    elif k == "add":
        y = xs[0] + xs[1]
    elif k == "mul":
        y = xs[0] * xs[1]
    elif k == "sub":
        y = xs[0] - xs[1]
    elif k == "div":
        y = xs[0] / xs[1]
    elif k == "avgpool2d":
        y = avgpool(xs[0], a, dpu_approx)
    elif k in ("relu", "relu6", "leaky-relu", "hard-sigmoid", "hard-swish", "sigmoid", "tanh"):
        y = apply_act(xs[0], k, a, dpu_approx)
    elif k == "softmax":
        y = torch.softmax(xs[0], a["dim"])
    elif k == "resize":
        if a.get("mode", "BILINEAR") == "NEAREST":
            y = F.interpolate(xs[0], size=a["size"], mode="nearest")
        else:
            y = F.interpolate(xs[0], size=a["size"], mode="bilinear", align_corners=a["align_corners"])
    elif k == "reduction_mean":
        y = xs[0].mean(dim=a["dims"], keepdim=a["keepdim"])
    elif k == "reduction_max":
        y = torch.amax(xs[0], dim=a["dims"], keepdim=a["keepdim"])
    elif k == "matmul":
        y = torch.matmul(xs[0], xs[1])
    elif k == "torch":
        y = call_torch(n, xs)
    else:
        raise ValueError(f"node '{n.name}': no float implementation for kind {k}")
    return apply_act(y, n.act, n.act_attrs, dpu_approx) if n.act else y
