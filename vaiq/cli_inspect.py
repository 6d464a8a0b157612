"""``vaiq inspect``'s judgement per node: why it is quantized the way it is, and whether a target's
limits would put it on the DPU (an estimate from arch limits; the compiler decides for real)."""
from __future__ import annotations

from .ir import ACTIVATIONS

def quant_reason(n) -> str:
    """Why a node is quantized the way it is (one short phrase)."""
    if n.kind == "input":
        return "network input"
    if n.quant == "own":
        notes = []
        if n.attrs.get("folded_bn"):
            notes.append(f"BatchNorm {n.attrs['folded_bn']} folded in")
        if n.attrs.get("from_bn"):
            notes.append("BatchNorm as a depthwise 1x1 conv")
        if n.act:
            notes.append(f"{n.act} fused")
        return "own fix position" + (f" ({', '.join(notes)})" if notes else "")
    if n.quant == "shared":
        return "keeps its input's fix position"
    why = n.reason or f"{n.kind} has no DPU equivalent"
    return why + ("; its output is quantized for the ops that read it" if n.attrs.get("fixed_out") else "")


def placement(n, target) -> tuple[str, str]:
    """Whether ``target``'s limits put node ``n`` on the DPU: ("DPU" | "CPU" | "-", why).

    A simple per-node check of the arch limits, not the compiler's decision:
    float nodes are CPU; convs check kernel, stride, padding, output channels, fused activation and
    whether the weights fit the weights bank (depthwise convs use the depthwise limits, transposed
    convs need ``transposed_conv``); dense layers are 1x1 convs; pools fit the pool engine or the ALU;
    add/mul need the eltwise type and activation; a separate activation needs some engine that lists
    it; layout ops (concat, reshape, flatten, transpose, slice, pad, upsample) are taken as DPU data
    movement.
    """
    if n.kind == "input":
        return "-", "network input"
    if not target.compilable:
        return "CPU", f"{target.name} is not a compilable DPU target"
    if n.quant == "float":
        return "CPU", n.reason or f"{n.kind} has no DPU equivalent"
    lim = target.limits
    act = ACTIVATIONS[n.act] if n.act else "NONE"
    problems: list[str] = []

    def need(ok: bool, why: str) -> None:
        if not ok:
            problems.append(why)

    a = n.attrs
    if n.kind in ("conv2d", "transposed-conv2d"):
        w = n.params["weight"]
        kh, kw = int(w.shape[2]), int(w.shape[3])
        groups = int(a.get("groups", 1))
        if n.kind == "transposed-conv2d":
            cin, cout = int(w.shape[0]), int(w.shape[1]) * groups
        else:
            cout, cin = int(w.shape[0]), int(w.shape[1]) * groups
        stride, pad = max(a.get("stride", (1, 1))), max(a.get("padding", (0, 0)))
        depthwise = n.kind == "conv2d" and groups > 1 and groups == cin == cout
        if depthwise:
            need(lim.depthwise, "no depthwise engine")
            need(max(kh, kw) <= lim.dw_kernel_max, f"kernel {kh}x{kw} > dw_kernel_max {lim.dw_kernel_max}")
            need(stride <= lim.dw_stride_max, f"stride {stride} > dw_stride_max {lim.dw_stride_max}")
            need(act in lim.dw_nonlinears, f"{act} not in dw_nonlinears")
        else:
            if n.kind == "transposed-conv2d":
                need(lim.transposed_conv, "no transposed convolution")
            need(lim.conv_kernel_min <= min(kh, kw) and max(kh, kw) <= lim.conv_kernel_max,
                 f"kernel {kh}x{kw} outside {lim.conv_kernel_min}..{lim.conv_kernel_max}")
            need(stride <= lim.conv_stride_max, f"stride {stride} > conv_stride_max {lim.conv_stride_max}")
            need(pad <= lim.conv_pad_max, f"padding {pad} > conv_pad_max {lim.conv_pad_max}")
            need(cout <= lim.conv_out_channels_max, f"{cout} output channels > {lim.conv_out_channels_max}")
            need(act in lim.conv_nonlinears, f"{act} not in conv_nonlinears")
            need(target.conv_weights_fit(kh, kw, cin // groups), "weights do not fit the weights bank")
    elif n.kind == "inner-product":
        cout, cin = (int(d) for d in n.params["weight"].shape)
        need(cout <= lim.conv_out_channels_max, f"{cout} outputs > {lim.conv_out_channels_max}")
        need(act in lim.conv_nonlinears, f"{act} not in conv_nonlinears")
        need(target.conv_weights_fit(1, 1, cin), "weights do not fit the weights bank")
    elif n.kind in ("maxpool2d", "avgpool2d"):
        k, s, p = max(a["kernel"]), max(a["stride"]), max(a.get("padding", (0, 0)))
        ptype = "MAX" if n.kind == "maxpool2d" else "AVG"
        pool_ok = ptype in lim.pool_types and k <= lim.pool_kernel_max and s <= lim.pool_stride_max
        alu_ok = lim.alu and k <= lim.alu_kernel_max and s <= lim.alu_stride_max and p <= lim.alu_pad_max
        need(pool_ok or alu_ok, f"{ptype} pool kernel {k} stride {s} exceeds the pool engine and the ALU")
    elif n.kind in ("add", "mul"):
        need(n.kind.upper() in lim.eltwise_types, f"no eltwise {n.kind.upper()}")
        need(act in lim.eltwise_nonlinears, f"{act} not in eltwise_nonlinears")
    elif n.kind in ACTIVATIONS:
        engines = (*lim.conv_nonlinears, *lim.alu_nonlinears, *lim.dw_nonlinears, *lim.eltwise_nonlinears)
        need(ACTIVATIONS[n.kind] in engines, f"no engine runs {ACTIVATIONS[n.kind]}")
    else:
        return "DPU", "data movement"
    if problems:
        return "CPU", "; ".join(problems)
    return "DPU", "within the target's limits"


def inspect_rows(graph, target=None) -> list[dict]:
    rows = []
    for n in graph.nodes:
        row = {"name": n.name, "kind": n.kind, "scope": n.scope, "module_type": n.module_type,
               "source": n.source, "inputs": list(n.inputs), "shape": list(n.shape), "quant": n.quant,
               "reason": quant_reason(n), "act": n.act}
        if target is not None:
            row["device"], row["device_reason"] = placement(n, target)
        rows.append(row)
    return rows
