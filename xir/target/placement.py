"""Does one op fit the DPU of a target? The rules the compiler's partitioner (vaic) and the
quantizer's estimate (``vaiq inspect --target``) share.

An op is described by an :class:`OpDesc` in DPU terms (NHWC data, the xir fixed-op conventions: a
conv's weights are ``[out, kh, kw, in/group]``, kernels and strides ``(w, h)``, padding ``(left,
right, top, bottom)``). :func:`misfit` returns None when the target's engines can run the op, or a
:class:`Misfit` (reason code, one sentence) saying why not; :func:`engine` names the engine that runs
an op that fits. Only target limits are judged here: fix positions, ops the quantizer kept float and
what a backend generates are for the caller to add (vaic/passes/support.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

from xir.isa import activations, field_slot
from xir.target.model import Target

#: act_type values the CONVINIT / DWINIT / ELEWINIT encodings hold (docs/isa.md §2); only ALUINIT has more
CONV_ENGINE_ACTS = activations("CONVINIT")
#: activations a depthwise op gets from the ALU (ALUINIT DWCONV, which holds their fix positions) when
#: the target's ALU lists them; PRELU is not among them (no backend form for per-channel slopes)
ALU_DW_ACTS = ("HSIGMOID", "HSWISH")
#: ELEWINIT input slots
ELEW_INPUTS_MAX = 16
#: padding the POOL instruction's pad fields hold
POOL_PAD_MAX = 15
#: explicit padding modes; SAME / VALID must have been resolved to numbers before the DPU sees the op
PAD_MODES = ("FLOOR", "CEIL")
#: what an op needs from the DPU; None (or any other value) means no DPU engine computes it
ENGINES = ("conv", "dwconv", "tconv", "pool", "eltwise", "concat", "slice", "upsample", "alias")


@dataclass(frozen=True)
class OpDesc:
    """One op as the placement rules see it; fields an engine does not use keep their defaults."""

    kind: str                                   # the op type named in sentences, e.g. "conv2d-fix"
    engine: str | None                          # one of ENGINES, or None: no DPU engine
    kernel: tuple[int, int] = (1, 1)            # (w, h); a global pool's is its input plane
    stride: tuple[int, int] = (1, 1)            # (w, h)
    pad: tuple[int, ...] = (0, 0, 0, 0)         # (left, right, top, bottom)
    pad_mode: str = "FLOOR"
    dilation: tuple[int, int] = (1, 1)          # (w, h)
    groups: int = 1
    in_channels: int = 0                        # input channels per group (the weights' last dim)
    out_channels: int = 0
    multiplier: int = 1                         # depthwise channel multiplier
    act: str = "NONE"                           # fused activation, an xmodel ``nonlinear`` name
    mode: str = ""                              # pool MAX / AVG, eltwise ADD / MUL
    count_include_pad: bool = True              # average pool divides by the whole window
    global_pool: bool = False
    n_inputs: int = 1
    input_shapes: tuple[tuple[int, ...], ...] | None = None   # eltwise inputs; None when unknown
    axis: int = -1                              # concat axis / the one sliced axis (NHWC; -1: several)
    rank: int = 4                               # concat output rank / sliced tensor rank
    step: int = 1                               # slice step


class Misfit(NamedTuple):
    """Why an op does not fit: a reason code (docs/vaic.md) and one sentence."""

    code: str
    sentence: str


#: a zero pad in front of these ops (or of an AVG pool that counts padding) becomes their own padding
PAD_FOLD_KINDS = ("conv2d-fix", "depthwise-conv2d-fix")
#: ... while each summed pad stays within what the LOAD and CONV pad fields hold
PAD_FIELD_MAX = 15


def takes_folded_pad(kind: str, pool_type: str | None, count_include_pad: bool, pad_mode: str) -> bool:
    """Rule (xir/transforms/fold_pad.py): a zero pad folds into a conv or
    depthwise conv, or an average pool that counts padding, with explicit (FLOOR) padding."""
    takes = kind in PAD_FOLD_KINDS or (kind == "pool-fix" and pool_type == "AVG" and count_include_pad)
    return takes and pad_mode == "FLOOR"


# ---------------------------------------------------------------- shared pieces


def window(d: OpDesc, kmax: int, smax: int, pmax: int, what: str) -> Misfit | None:
    """Rule: kernel <= kmax, stride <= smax, every pad <= pmax and an explicit pad mode."""
    kw, kh = d.kernel
    sw, sh = d.stride
    if max(kw, kh) > kmax:
        return Misfit("KERNEL_TOO_LARGE", f"{what} kernel {kw}x{kh} exceeds the target's {kmax}")
    if max(sw, sh) > smax:
        return Misfit("STRIDE_TOO_LARGE", f"{what} stride {sw}x{sh} exceeds the target's {smax}")
    if max(d.pad) > pmax or d.pad_mode not in PAD_MODES:
        return Misfit("PAD_UNSUPPORTED", f"{what} padding {list(d.pad)} ({d.pad_mode}) is beyond the target's {pmax}")
    return None


def activation(d: OpDesc, allowed: tuple[str, ...], what: str) -> Misfit | None:
    """Rule: the fused activation is one the target lists for the engine and its INIT encoding holds."""
    if d.act not in allowed or d.act not in CONV_ENGINE_ACTS:
        return Misfit("ACTIVATION", f"the {what} engine cannot apply {d.act}")
    return None


def not_dilated(d: OpDesc, sentence: str) -> Misfit | None:
    """Rule: no instruction has a dilation field."""
    return Misfit("DILATION", sentence) if max(d.dilation) > 1 else None


# ---------------------------------------------------------------- one rule per engine


def conv(d: OpDesc, t: Target) -> Misfit | None:
    """Rule (CONV): a grouped conv fits when its pieces do (:func:`group_piece`); else undilated,
    kernel in conv_kernel_min..max, stride and padding inside
    the conv ranges, at most conv_out_channels_max outputs, weights that fit the weights bank
    (Target.conv_weights_fit) and an activation of conv_nonlinears the CONVINIT encoding holds."""
    lim = t.limits
    kw, kh = d.kernel
    if d.groups != 1:
        return conv(group_piece(d, t), t)
    bad = not_dilated(d, "dilated convolution has no field in the CONV instruction")
    if bad:
        return bad
    if min(kw, kh) < lim.conv_kernel_min:
        return Misfit("KERNEL_TOO_SMALL", f"conv kernel {kw}x{kh} is below the target's {lim.conv_kernel_min}")
    bad = window(d, lim.conv_kernel_max, lim.conv_stride_max, lim.conv_pad_max, "conv")
    if bad:
        return bad
    if d.out_channels > lim.conv_out_channels_max:
        return Misfit("TOO_MANY_CHANNELS",
                      f"{d.out_channels} output channels exceed the target's {lim.conv_out_channels_max}")
    if not t.conv_weights_fit(kh, kw, d.in_channels):
        lines = kh * kw * math.ceil(d.in_channels / t.icp)
        return Misfit("WEIGHTS_EXCEED_BANK", f"kh*kw*ceil(Cin/ICP) = {lines} lines "
                      f"exceed the weight bank depth {t.weights_group.depth}")
    return activation(d, lim.conv_nonlinears, "conv")


def groups_per_piece(groups: int, in_per_group: int, icp: int) -> int:
    """Rule: a grouped convolution runs as pieces of ``k`` consecutive groups each, ``k`` the most
    groups whose input channels fill at most one ICP-wide channel group (at least 1). A piece is a
    plain convolution over its groups' input channels with block-diagonal weights (the zero weights
    between groups add exact zeros), reading its channel slice of the input in place and writing its
    channel slice of the output (vaic/passes/split_groups.py)."""
    return max(1, min(groups, icp // max(in_per_group, 1)))


def group_piece(d: OpDesc, t: Target) -> OpDesc:
    """The largest piece of grouped conv ``d`` on ``t`` (see :func:`groups_per_piece`): a group-1
    conv of ``k`` groups' channels; the whole grouped conv fits when this piece fits."""
    k = groups_per_piece(d.groups, d.in_channels, t.icp)
    return replace(d, groups=1, in_channels=k * d.in_channels, out_channels=k * (d.out_channels // d.groups))


def tconv_phase(d: OpDesc) -> OpDesc:
    """The largest output-phase conv of transposed conv ``d``: stride 1, a kernel of ``ceil(k / s)``
    taps per axis (vaic/backend/tconv.py runs one such CONV layer per output phase)."""
    (kw, kh), (sw, sh) = d.kernel, d.stride
    return replace(d, kernel=(-(-kw // sw), -(-kh // sh)), stride=(1, 1), pad=(0, 0, 0, 0))


def transposed_conv(d: OpDesc, t: Target) -> Misfit | None:
    """Rule: the target has a transposed convolution mode (limits.transposed_conv), the conv is not
    grouped and its kernel is at least its stride (every output phase gets a tap); then each output
    phase is a stride-1 conv (:func:`tconv_phase`) and the conv engine's rules apply to it."""
    if not t.limits.transposed_conv:
        return Misfit("NO_ENGINE", "the target has no transposed convolution")
    if d.groups != 1:
        return Misfit("GROUPED_CONV", f"grouped transposed convolution (group {d.groups}) has no DPU instruction")
    if d.kernel[0] < d.stride[0] or d.kernel[1] < d.stride[1]:
        return Misfit("KERNEL_TOO_SMALL", f"transposed conv kernel {d.kernel[0]}x{d.kernel[1]} is smaller than its "
                      f"stride {d.stride[0]}x{d.stride[1]}: some outputs get no tap")
    return conv(tconv_phase(d), t)


def alu_applies(act: str, t: Target) -> bool:
    """Whether ``act`` is an activation DWINIT cannot hold but the target's ALU lists."""
    return act in ALU_DW_ACTS and t.limits.alu and act in t.limits.alu_nonlinears


def _on_alu(d: OpDesc, t: Target) -> bool:
    """A depthwise op runs as ALU DWCONV when its activation is one only the ALU applies."""
    return d.engine == "dwconv" and alu_applies(d.act, t)


def depthwise(d: OpDesc, t: Target) -> Misfit | None:
    """Rule (DPTWISE, or ALU DWCONV for ALU_DW_ACTS): a depthwise engine (its weights bank feeds both),
    channel multiplier 1, undilated; on DPTWISE kernel and stride inside the depthwise ranges (padding
    inside conv_pad_max) and an activation of dw_nonlinears the DWINIT encoding holds; on the ALU
    (an activation of ALU_DW_ACTS the target's ALU lists) kernel, stride and padding inside the ALU's
    ranges. A separate hard-swish or hard-sigmoid is a 1x1 identity depthwise op of this kind."""
    lim = t.limits
    if not lim.depthwise:
        return Misfit("NO_ENGINE", "the target has no depthwise engine")
    if d.multiplier != 1:
        return Misfit("CHANNEL_MULTIPLIER", f"depthwise channel multiplier {d.multiplier} (the DPU runs multiplier 1)")
    bad = not_dilated(d, "dilated depthwise convolution has no instruction field")
    if bad:
        return bad
    if _on_alu(d, t):
        return window(d, lim.alu_kernel_max, lim.alu_stride_max, lim.alu_pad_max, "ALU depthwise")
    bad = window(d, lim.dw_kernel_max, lim.dw_stride_max, lim.conv_pad_max, "depthwise")
    return bad or activation(d, lim.dw_nonlinears, "depthwise")


def _pool_engine_fits(d: OpDesc, t: Target) -> bool:
    lim = t.limits
    k = max(d.kernel)
    return d.mode in lim.pool_types and k <= lim.pool_kernel_max and \
        (d.global_pool or window(d, lim.pool_kernel_max, lim.pool_stride_max, POOL_PAD_MAX, "pool") is None)


def _alu_fits(d: OpDesc, t: Target) -> bool:
    lim = t.limits
    return lim.alu and max(d.kernel) <= lim.alu_kernel_max and \
        (d.global_pool or window(d, lim.alu_kernel_max, lim.alu_stride_max, lim.alu_pad_max, "ALU") is None)


def pool(d: OpDesc, t: Target) -> Misfit | None:
    """Rule (POOL, else ALU): no fused activation; an average pool that excludes padding has no form
    when it pads; the window must fit the pool engine (a listed pool type, kernel and stride inside
    the pool ranges, padding <= 15) or, on a target with one, the ALU (its kernel, stride and pad
    ranges). A global pool's window is its input plane; its stride and padding are not checked."""
    lim = t.limits
    if d.mode not in lim.pool_types and not lim.alu:
        return Misfit("NO_ENGINE", f"the target has no {d.mode} pool engine")
    if d.act != "NONE":
        return Misfit("ACTIVATION", "the pool engine applies no activation")
    if d.mode == "AVG" and not d.count_include_pad and any(d.pad):
        return Misfit("AVG_EXCLUDE_PAD", "average pooling that excludes padding is not a DPU operation")
    if _pool_engine_fits(d, t) or _alu_fits(d, t):
        return None
    kw, kh = d.kernel
    if max(kw, kh) > lim.pool_kernel_max and not (lim.alu and max(kw, kh) <= lim.alu_kernel_max):
        return Misfit("KERNEL_TOO_LARGE", f"pool kernel {kw}x{kh} exceeds the target's {lim.pool_kernel_max}"
                      + (f" and ALU {lim.alu_kernel_max}" if lim.alu else ""))
    if lim.alu and (max(kw, kh) > lim.pool_kernel_max or d.mode not in lim.pool_types):
        return window(d, lim.alu_kernel_max, lim.alu_stride_max, lim.alu_pad_max, "ALU pool")
    return window(d, lim.pool_kernel_max, lim.pool_stride_max, POOL_PAD_MAX, "pool")


def is_channel_scale(d: OpDesc) -> bool:
    """Whether ``d`` multiplies an NHWC image by a per-channel vector of the same image (shapes
    ``[n, h, w, c]`` and ``[n, 1, 1, c]``, either order): a squeeze-excite gate."""
    if d.engine != "eltwise" or d.mode != "MUL" or d.n_inputs != 2 or not d.input_shapes:
        return False
    a, b = (tuple(s) for s in d.input_shapes)
    if len(a) != 4 or len(b) != 4:
        return False
    img, vec = (a, b) if b[1:3] == (1, 1) else (b, a)
    return vec[1:3] == (1, 1) and vec[0] == img[0] and vec[3] == img[3] and img[1:3] != (1, 1)


def channel_scale(d: OpDesc, t: Target) -> Misfit | None:
    """Rule: an image times a per-channel vector (:func:`is_channel_scale`) runs on the depthwise
    engine as a 1x1 DPTWISE whose weights are the vector, LOADed from DDR into the depthwise weights
    bank per image (vaic/backend/scale.py); so it needs a depthwise engine and an activation of
    dw_nonlinears the DWINIT encoding holds."""
    if not t.limits.depthwise:
        return Misfit("NO_ENGINE", "a per-channel scale (broadcast multiply) runs on the depthwise engine, "
                      "which the target lacks")
    return activation(d, t.limits.dw_nonlinears, "depthwise")


def eltwise(d: OpDesc, t: Target) -> Misfit | None:
    """Rule (ELEW): a listed element-wise type, inputs of one shape (no broadcasting, except an image
    times a per-channel vector: :func:`channel_scale`; unchecked when the shapes are unknown), an
    activation of eltwise_nonlinears the ELEWINIT encoding holds and at most 16 inputs."""
    lim = t.limits
    if is_channel_scale(d):
        return channel_scale(d, t)
    if d.mode not in lim.eltwise_types:
        return Misfit("NO_ENGINE", f"the target has no element-wise {d.mode}")
    dims = [list(s) for s in d.input_shapes or ()]
    if any(s != dims[0] for s in dims):
        return Misfit("BROADCAST", f"element-wise inputs of different shapes {dims} (the DPU does not broadcast)")
    bad = activation(d, lim.eltwise_nonlinears, "element-wise")
    if bad:
        return bad
    if d.n_inputs > ELEW_INPUTS_MAX:
        return Misfit("TOO_MANY_INPUTS", f"{d.n_inputs} inputs exceed the {ELEW_INPUTS_MAX} ELEWINIT slots")
    return None


def concat(d: OpDesc, t: Target) -> Misfit | None:
    """Rule: only a channel concatenation of 4-D NHWC images (axis 3) is done in place."""
    if d.rank != 4 or d.axis % d.rank != d.rank - 1:
        return Misfit("CONCAT_AXIS", "only channel concatenation of NHWC images is done in place on the DPU")
    return None


def channel_slice(d: OpDesc, t: Target) -> Misfit | None:
    """Rule: a slice of consecutive channels of a 4-D NHWC image (axis 3, step 1) is a view of the same
    DDR bytes (its first channel's offset, the image's pixel stride) that LOAD reads in place; other
    slices move data the DPU has no instruction for."""
    if d.rank != 4 or d.axis != 3 or d.step != 1:
        return Misfit("SLICE_AXIS", "only a step-1 slice of the channels of an NHWC image is read in place on the DPU")
    return None


def upsample(d: OpDesc, t: Target) -> Misfit | None:
    """Rule: nearest upsampling by integer factors is LOADs and SAVEs only (each input row loaded once,
    saved once per output phase at a strided DDR view; vaic/backend/upsample.py): it always fits."""
    return None


def alias(d: OpDesc, t: Target) -> Misfit | None:
    """Rule: a reshape of NHWC DDR data (and an upload / download) is the same bytes: always fits."""
    return None


RULES = {"conv": conv, "tconv": transposed_conv, "dwconv": depthwise, "pool": pool, "eltwise": eltwise,
         "concat": concat, "slice": channel_slice, "upsample": upsample, "alias": alias}


def misfit(d: OpDesc, t: Target) -> Misfit | None:
    """None when ``t``'s DPU can run the op ``d``, else the reason code and sentence."""
    rule = RULES.get(d.engine)
    if rule is None:
        return Misfit("NO_DPU_OP", f"{d.kind} has no DPU engine")
    return rule(d, t)


def engine(d: OpDesc, t: Target) -> str:
    """The engine that runs an op that fits: CONV, DWCONV, POOL, ALU (a pool the POOL engine cannot
    take, or a depthwise op with an ALU-only activation), ELEW, CONCAT, COPY (upsampling: LOAD/SAVE) or
    ALIAS (reshapes and channel slices: views of the same bytes)."""
    if d.engine == "pool":
        return "POOL" if _pool_engine_fits(d, t) else "ALU"
    if _on_alu(d, t):
        return "ALU"
    if is_channel_scale(d):
        return "DWCONV"
    return {"conv": "CONV", "tconv": "CONV", "dwconv": "DWCONV", "eltwise": "ELEW", "concat": "CONCAT",
            "slice": "ALIAS", "upsample": "COPY", "alias": "ALIAS"}[d.engine]


__all__ = ["ALU_DW_ACTS", "CONV_ENGINE_ACTS", "ENGINES", "Misfit", "OpDesc", "engine", "group_piece",
           "groups_per_piece", "is_channel_scale", "misfit", "sliced_axis"]


def sliced_axis(dims, begin, end, strides) -> tuple[int, int]:
    """(the one axis a strided slice narrows, its step), or (-1, 1) when it narrows several axes
    or none; ``begin``/``end``/``strides`` as the xir ``strided_slice`` attributes."""
    cut = [i for i, d in enumerate(dims)
           if range(*slice(begin[i], end[i], (strides or [1] * len(dims))[i]).indices(d)) != range(d)]
    if len(cut) != 1:
        return -1, 1
    return cut[0], int((strides or [1] * len(dims))[cut[0]])


def alu_hsigmoid_fields(act: str, acc_fp: int, out_fp: int, isa: str) -> tuple[dict[str, int], Misfit | None]:
    """Rule: an ALU HSIGMOID / HSWISH runs with ``shift_cut`` 0, so it reads the exact accumulator at
    fix position ``hsigmoid_in = acc_fp`` (input + weights of a depthwise conv; the input of
    hard-sigmoid-fix) and writes ``hsigmoid_out = out_fp``; each must fit its ALUINIT field. Returns
    the two fields and None, or the fields and why they do not fit (HSIGMOID_FIX_POSITION)."""
    fields = {"hsigmoid_in": int(acc_fp), "hsigmoid_out": int(out_fp)}
    for field, fp in fields.items():
        slot = field_slot("ALUINIT", field, isa or "ISA1")
        if not slot.lo <= fp <= slot.hi:
            return fields, Misfit("HSIGMOID_FIX_POSITION", f"the ALU's {act} needs {field} in [{slot.lo}, "
                                  f"{slot.hi}] and this op's is {fp}")
    return fields, None
