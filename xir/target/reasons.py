"""Why an op runs on the CPU, and what the user can change about it: one table for every reason code
(xir.target.placement's target-limit codes and the compiler's own), used by vaic's compile log and
``vaiq inspect --target`` to end with the same one-screen summary (docs/vaic.md, "Why an op runs on
the CPU").

Rule: the summary names the DPU subgraph count, then each reason code with how many ops it sent to
the CPU (the op types and a few names), and one line of advice: a quant-config key, an op to use
instead, or the targets where the op fits.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable, NamedTuple

#: advice per reason code; FLOAT_OP is refined per op type below
ADVICE = {
    "FLOAT_OP": "a float op (no DPU engine computes it): move it to post-processing outside the model, "
                "or use a DPU-friendly op",
    "BOUNDARY": "converts a CPU result back to int8 for the DPU; it goes away with the CPU op before it",
    "KEPT_FLOAT": "your quant config keeps this layer float (layer_quantize_config quantizable: false, "
                  "keep_first_last_layer_accuracy, keep_add_layer_accuracy); drop that rule to put it on the DPU",
    "NO_DPU_OP": "no DPU engine has this op: rewrite it with convs, pools, adds, concats or channel slices, "
                 "or keep it in post-processing",
    "NO_ENGINE": "this target lacks the engine: a DPUCZDX8G or DPUCVDX8G target has depthwise, ALU and "
                 "element-wise multiply; try one of those (vaic sweep lists what fits)",
    "KERNEL_TOO_LARGE": "use a smaller kernel (e.g. a global pool on a smaller map, two stacked convs), "
                        "or a target whose limits are larger",
    "KERNEL_TOO_SMALL": "use a kernel the target accepts",
    "STRIDE_TOO_LARGE": "use a smaller stride (e.g. stride 2 followed by a 2x2 pool)",
    "PAD_UNSUPPORTED": "use explicit (FLOOR) padding within the target's limit",
    "TOO_MANY_CHANNELS": "split the layer's output channels over two convs and concatenate",
    "WEIGHTS_EXCEED_BANK": "fewer input channels or a smaller kernel per conv (split the input channels and add)",
    "ACTIVATION": "this engine cannot apply the activation: use ReLU / ReLU6 / LeakyReLU(0.1), or a target whose "
                  "ALU lists hard-sigmoid / hard-swish (DPUCZDX8G, DPUCVDX8G)",
    "RELU6_FIX_POSITION": "the output range is too wide for the DPU's ReLU6: use ReLU there, or calibrate "
                          "with data that keeps activations in range",
    "HSIGMOID_FIX_POSITION": "the hard-sigmoid's fix positions do not fit the ALU fields: recalibrate (the "
                             "input range is too narrow or too wide)",
    "GROUPED_CONV": "a grouped transposed conv has no DPU form: use groups=1",
    "DILATION": "no instruction field for dilation: use an undilated conv (e.g. stride or pooling instead)",
    "CHANNEL_MULTIPLIER": "depthwise with a channel multiplier: use a depthwise conv (multiplier 1) followed by a "
                          "1x1 conv",
    "BROADCAST": "element-wise inputs of different shapes: only an image times a per-channel vector is "
                 "broadcast on the DPU; expand the other operand explicitly",
    "TOO_MANY_INPUTS": "at most 16 inputs per element-wise op: add in a tree",
    "CONCAT_AXIS": "concatenate on channels (dim 1 in torch), or reshape around the concat in post-processing",
    "AVG_EXCLUDE_PAD": "use count_include_pad=True (the DPU divides by the whole window)",
    "SLICE_AXIS": "only slices of consecutive channels are read in place: slice channels (dim 1) with step 1",
    "NOT_GENERATED": "the op fits the target but this compiler does not generate it yet",
    "NOT_TILED": "the layer does not fit the target's banks: fewer channels or a smaller feature map",
    "ALIAS_ONLY": "a reshape or slice alone between CPU ops costs nothing on the CPU",
    "UNUSED": "an unused constant",
    "NO_XIR_OP": "the op has no XIR equivalent (e.g. GELU): wego_torch runs it in torch; for the plain "
                 "vaiq -> vaic flow replace it (e.g. GELU by hard-swish) or keep it in post-processing",
}

#: FLOAT_OP advice for op types with a known substitution
FLOAT_OP_ADVICE = {
    "sigmoid": "quant config convert_sigmoid_to_hsigmoid: true runs it as hard-sigmoid on the ALU "
               "(an approximation; DPUCZDX8G, DPUCVDX8G)",
    "silu": "quant config convert_silu_to_hswish: true runs SiLU as hard-swish on the ALU (an approximation)",
    "softmax": "apply softmax in post-processing (argmax / top-k need none)",
    "fix2float": "feeds a float op: it goes away with that op",
    "tanh": "no DPU engine computes tanh: use hard-sigmoid based forms or post-processing",
    "resize": "use nearest upsampling by an integer factor (the DPU's upsample)",
}


class CpuOp(NamedTuple):
    name: str
    op_type: str
    code: str


def advice(code: str, op_type: str = "") -> str:
    """What the user can change about an op sent to the CPU with ``code``."""
    if code == "FLOAT_OP":
        for key, text in FLOAT_OP_ADVICE.items():
            if key in op_type:
                return text
    return ADVICE.get(code, "see docs/vaic.md, 'Why an op runs on the CPU'")


def split_reason(reason: str) -> tuple[str, str]:
    """``"CODE: sentence"`` -> (CODE, sentence); a reason without a code is FLOAT_OP (the quantizer kept
    the op float because it has no fixed-point form)."""
    head, sep, rest = reason.partition(": ")
    if sep and head.isupper() and head.replace("_", "").isalnum():
        return head, rest
    return "FLOAT_OP", reason


def summary_lines(dpu_subgraphs: int, cpu_subgraphs: int, cpu_ops: Iterable[CpuOp], estimate: bool = False,
                  names_shown: int = 3) -> list[str]:
    """The one-screen summary (module rule)."""
    ops = list(cpu_ops)
    head = (f"{'estimated: ' if estimate else ''}{dpu_subgraphs} DPU subgraph(s), {cpu_subgraphs} CPU "
            f"subgraph(s), {len(ops)} op(s) on the CPU")
    lines = [head]
    by_code: dict[str, list[CpuOp]] = defaultdict(list)
    for op in ops:
        by_code[op.code].append(op)
    for code, members in sorted(by_code.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        types = Counter(m.op_type for m in members)
        names = ", ".join(m.name for m in members[:names_shown]) + (", ..." if len(members) > names_shown else "")
        lines.append(f"  {code} x{len(members)} ({', '.join(f'{t} x{n}' for t, n in types.most_common())}: {names})")
        seen = []
        for t in types:
            tip = advice(code, t)
            if tip not in seen:
                seen.append(tip)
        lines += [f"    -> {tip}" for tip in seen]
    return lines
