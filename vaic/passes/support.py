"""Which ops the target's DPU can run, and why not when it cannot.

Rule: an op runs on the DPU only if the target has the engine for it, its kernel / stride / padding /
channel numbers are inside the target's limits (DPU_FACTS §4), its activation is one the instruction
of that engine can apply (docs/isa.md §2), its weights fit the banks, and the backend generates code
for it. Every other op goes to the CPU with a reason code and a sentence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import xir
from xir.target import Target

USER_OPS = ("data-fix", "data")
CONV_ENGINE_ACTS = ("NONE", "RELU", "LEAKYRELU", "RELU6")   # CONVINIT / DWINIT / ELEW act_type codes
ALIAS_OPS = ("reshape-fix", "upload", "download")           # free on NHWC DDR data: same bytes


@dataclass(frozen=True)
class Placement:
    device: str          # "DPU", "CPU" or "USER"
    code: str = ""       # reason code for a CPU op
    reason: str = ""     # one sentence


def dpu(engine: str = "") -> Placement:
    return Placement("DPU", engine)


def cpu(code: str, reason: str) -> Placement:
    return Placement("CPU", code, reason)


def _fp(t) -> int:
    return int(t.get_attr("fix_point"))


def _relu6_ok(op: xir.Op) -> Placement | None:
    if op.get_attr_or_default("nonlinear") == "RELU6" and _fp(op.get_output_tensor()) < 4:
        return cpu("RELU6_FIX_POSITION", "the DPU's ReLU6 clamps at 96 output units, exact only at fix "
                   f"position >= 4, and this output is at {_fp(op.get_output_tensor())}")
    return None


def _window(op: xir.Op, kmax: int, smax: int, pmax: int, what: str) -> Placement | None:
    kw, kh = op.get_attr_or_default("kernel")
    sw, sh = op.get_attr_or_default("stride")
    if max(kw, kh) > kmax:
        return cpu("KERNEL_TOO_LARGE", f"{what} kernel {kw}x{kh} exceeds the target's {kmax}")
    if max(sw, sh) > smax:
        return cpu("STRIDE_TOO_LARGE", f"{what} stride {sw}x{sh} exceeds the target's {smax}")
    if max(op.get_attr_or_default("pad")) > pmax or op.get_attr_or_default("pad_mode") not in ("FLOOR", "CEIL"):
        return cpu("PAD_UNSUPPORTED", f"{what} padding {op.get_attr_or_default('pad')} "
                   f"({op.get_attr_or_default('pad_mode')}) is beyond the target's {pmax}")
    return None


def _conv(op: xir.Op, t: Target) -> Placement:
    lim = t.limits
    w = op.get_input_tensor("weights").dims
    cout, kh, kw, cin_g = w
    if op.get_attr_or_default("group") != 1:
        return cpu("GROUPED_CONV", f"grouped convolution (group {op.get_attr('group')}) has no DPU instruction")
    if max(op.get_attr_or_default("dilation")) > 1:
        return cpu("DILATION", "dilated convolution has no field in the CONV instruction")
    bad = _window(op, lim.conv_kernel_max, lim.conv_stride_max, lim.conv_pad_max, "conv")
    if bad:
        return bad
    if cout > lim.conv_out_channels_max:
        return cpu("TOO_MANY_CHANNELS", f"{cout} output channels exceed the target's {lim.conv_out_channels_max}")
    if not t.conv_weights_fit(kh, kw, cin_g):
        depth = t.weights_group.depth
        return cpu("WEIGHTS_EXCEED_BANK", f"kh*kw*ceil(Cin/ICP) = {kh * kw * math.ceil(cin_g / t.icp)} lines "
                   f"exceed the weight bank depth {depth}")
    act = op.get_attr_or_default("nonlinear")
    if act not in lim.conv_nonlinears or act not in CONV_ENGINE_ACTS:
        return cpu("ACTIVATION", f"the conv engine cannot apply {act}")
    return _relu6_ok(op) or dpu("CONV")


def _dwconv(op: xir.Op, t: Target) -> Placement:
    lim = t.limits
    act = op.get_attr_or_default("nonlinear")
    mult = op.get_input_tensor("weights").dims[0]
    if not lim.depthwise:
        return cpu("NO_ENGINE", "the target has no depthwise engine")
    if mult != 1:
        return cpu("CHANNEL_MULTIPLIER", f"depthwise channel multiplier {mult} (the DPU runs multiplier 1)")
    if max(op.get_attr_or_default("dilation")) > 1:
        return cpu("DILATION", "dilated depthwise convolution has no instruction field")
    bad = _window(op, lim.dw_kernel_max, lim.dw_stride_max, lim.conv_pad_max, "depthwise")
    if bad:
        return bad
    if act not in lim.dw_nonlinears or act not in CONV_ENGINE_ACTS:
        return cpu("ACTIVATION", f"the depthwise engine cannot apply {act}")
    return _relu6_ok(op) or dpu("DWCONV")


def _pool(op: xir.Op, t: Target) -> Placement:
    lim = t.limits
    kind = op.get_attr("type")
    x = op.get_input_tensor("input").dims
    if op.get_attr_or_default("global"):
        kw, kh = x[2], x[1]
    else:
        kw, kh = op.get_attr("kernel")
    if kind not in lim.pool_types:
        return cpu("NO_ENGINE", f"the target has no {kind} pool engine")
    if op.get_attr_or_default("nonlinear") != "NONE":
        return cpu("ACTIVATION", "the pool engine applies no activation")
    if kind == "AVG" and not op.get_attr_or_default("count_include_pad"):
        pads = op.get_attr_or_default("pad")
        if any(pads):
            return cpu("AVG_EXCLUDE_PAD", "average pooling that excludes padding is not a DPU operation")
    if max(kw, kh) > lim.pool_kernel_max:
        if lim.alu and max(kw, kh) <= lim.alu_kernel_max:
            return dpu("ALU")
        return cpu("KERNEL_TOO_LARGE", f"pool kernel {kw}x{kh} exceeds the target's {lim.pool_kernel_max}"
                   + (f" and ALU {lim.alu_kernel_max}" if lim.alu else ""))
    if not op.get_attr_or_default("global"):
        bad = _window(op, lim.pool_kernel_max, lim.pool_stride_max, 15, "pool")
        if bad:
            return bad
    return dpu("POOL")


def _eltwise(op: xir.Op, t: Target) -> Placement:
    lim = t.limits
    kind = op.get_attr("type")
    dims = [x.dims for x in op.get_input_tensors("input")]
    if kind not in lim.eltwise_types:
        return cpu("NO_ENGINE", f"the target has no element-wise {kind}")
    if any(d != dims[0] for d in dims):
        return cpu("BROADCAST", f"element-wise inputs of different shapes {dims} (the DPU does not broadcast)")
    act = op.get_attr_or_default("nonlinear")
    if act not in lim.eltwise_nonlinears or act not in CONV_ENGINE_ACTS:
        return cpu("ACTIVATION", f"the element-wise engine cannot apply {act}")
    if len(dims) > 16:
        return cpu("TOO_MANY_INPUTS", f"{len(dims)} inputs exceed the 16 ELEWINIT slots")
    return _relu6_ok(op) or dpu("ELEW")


def _concat(op: xir.Op, t: Target) -> Placement:
    rank = len(op.get_output_tensor().dims)
    if op.get_attr("axis") % rank != rank - 1 or rank != 4:
        return cpu("CONCAT_AXIS", "only channel concatenation of NHWC images is done in place on the DPU")
    return dpu("CONCAT")


RULES = {
    "conv2d-fix": _conv, "depthwise-conv2d-fix": _dwconv, "pool-fix": _pool,
    "eltwise-fix": _eltwise, "concat-fix": _concat,
}


def place(op: xir.Op, t: Target, generated: frozenset[str]) -> Placement:
    """DPU, CPU (with reason) or USER for one op of the canonical graph."""
    kind = op.get_type()
    if kind in USER_OPS:
        return Placement("USER")
    if op.has_attr("keep_float") and op.get_attr("keep_float"):
        return cpu("KEPT_FLOAT", "the quantizer kept this op float")
    if kind == "float2fix":
        return cpu("BOUNDARY", "converts a CPU result to fixed point for the DPU")
    if not op.get_output_tensor().has_attr("fix_point"):
        return cpu("FLOAT_OP", f"{kind} computes in float; the DPU computes int8 only")
    if kind in ALIAS_OPS:
        return dpu("ALIAS")
    rule = RULES.get(kind)
    if rule is None:
        return cpu("NO_DPU_OP", f"{kind} has no DPU engine")
    where = rule(op, t)
    if where.device == "DPU" and kind not in generated:
        return cpu("NOT_GENERATED", f"the {t.family} backend does not generate {kind} yet")
    return where
