"""``vaiq inspect``'s judgement per node: why it is quantized the way it is, and whether a target's
rules would put it on the DPU (the compiler's target rules; only the compiler knows fix positions
and what its backend generates)."""
from __future__ import annotations

from xir.target.grouping import device_groups
from xir.target.placement import misfit
from xir.target.reasons import CpuOp, split_reason, summary_lines

from .describe import CanonicalView


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


def placement(n, target, view: CanonicalView | None, any_target: bool = False) -> tuple[str, str]:
    """Whether ``target``'s DPU would run node ``n``: ("DPU" | "CPU" | "-", why).

    The node is judged as the fixed op that carries its value in the compiler's canonical graph
    (vaiq.describe.CanonicalView: vaic's own canonicalisation of the deploy graph) by the compiler's
    own target rules (xir.target.placement), so a CPU verdict reads "CODE: sentence" with vaic's reason
    code. Float nodes are CPU with the quantizer's reason, and every node of a target that is not
    compilable is CPU unless ``any_target`` (hardware-aware quantization judges such a target, e.g. the
    IPU overlay, by its limits all the same). A zero pad the compiler folds, or a layout op it merges
    into a channel permutation, follows the op it becomes part of.

    What only the compiler knows is not applied, so the estimate can say DPU where vaic says CPU:
    fix positions (RELU6_FIX_POSITION, HSIGMOID_FIX_POSITION and the shift ranges its frontend checks),
    which op types its backend generates (NOT_GENERATED, e.g. transposed convs), tiling to the banks
    (NOT_TILED) and a reshape left alone between CPU ops (ALIAS_ONLY). Transposes the export adds around reshape and
    flatten of images are not nodes here; they run on the CPU.
    """
    if n.kind == "input":
        return "-", "network input"
    if not target.compilable and not any_target:
        return "CPU", f"{target.name} is not a compilable DPU target"
    if n.quant == "float":
        return "CPU", n.reason or f"{n.kind} has no DPU equivalent"
    into = view.folded_into(n)
    if into is not None:
        dev, _ = placement(into, target, view, any_target)
        # a zero pad becomes the reader's padding; a layout op of a channel shuffle part of its permutation
        if n.kind == "pad":
            return dev, f"folded into the padding of {into.name}"
        return dev, f"merged into {into.name} by the compiler's layout folding"
    d = view.describe(n)
    if d is None:
        return "CPU", f"{n.kind} is not in the compiler's canonical graph"
    bad = misfit(d, target)
    if bad:
        return "CPU", f"{bad.code}: {bad.sentence}"
    return "DPU", "data movement" if d.engine == "alias" else "within the target's limits"


def inspect_rows(graph, target=None, any_target: bool = False) -> list[dict]:
    rows = []
    view = CanonicalView(graph) if target is not None else None
    for n in graph.nodes:
        row = {"name": n.name, "kind": n.kind, "scope": n.scope, "module_type": n.module_type,
               "source": n.source, "inputs": list(n.inputs), "shape": list(n.shape), "quant": n.quant,
               "reason": quant_reason(n), "act": n.act}
        if target is not None:
            row["device"], row["device_reason"] = placement(n, target, view, any_target)
        rows.append(row)
    return rows


def summary(graph, rows: list[dict]) -> list[str]:
    """The compiler's one-screen summary (xir.target.reasons) estimated from ``inspect_rows`` with a
    target: DPU subgraphs as vaic's grouping rule (xir.target.grouping) forms them from the estimated
    devices, CPU ops by reason code, and what to change."""
    device = {r["name"]: "USER" if r["device"] == "-" else r["device"] for r in rows}
    preds = {r["name"]: list(r["inputs"]) for r in rows}
    groups = device_groups([r["name"] for r in rows], device, preds)
    cpu = [CpuOp(r["name"], r["kind"], split_reason(r["device_reason"])[0]) for r in rows if r["device"] == "CPU"]
    return summary_lines(sum(g.device == "DPU" for g in groups), sum(g.device == "CPU" for g in groups), cpu,
                         estimate=True)
