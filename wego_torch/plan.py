"""Walk vaic's partition of the compiled model and decide what runs where.

Rules:
- each DPU subgraph becomes one step run by a ``vairun.Runner`` when every tensor crossing its border
  is the value of a quantizer node (through vaiq's value map, seen through vaic's upload/download ops
  and the exporter's NCHW/NHWC transposes) with the node's fix position; otherwise, or when it has
  fewer ops than ``wego_subgraph_min_ops_number``, its nodes run in torch and the summary says why;
- everything else is computed in torch by vaiq's test-mode node semantics, on demand: starting from
  the model's outputs, a value comes from the DPU step that outputs it, else from its node run in
  torch (whose inputs are demanded in turn); so nothing is computed twice and nothing is skipped;
- steps run in a topological order that follows the model's own node order where it can.
"""
from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

import vairun
import xir
from vaiq.export_xmodel import TO_NCHW, TO_NHWC   # the exporter's layout transposes

from .compiled import Compiled
from .deploy import Deploy

BORDER_OPS = ("upload", "download")
NOT_COUNTED = ("const", "const-fix", "upload", "download")


@dataclass
class Port:
    tensor: str          # the runner's tensor name
    node: str            # the quantizer node whose value it is
    nhwc: bool           # the DPU holds it NHWC while torch holds it NCHW
    fix_point: int
    dims: list[int]      # without the batch


@dataclass
class DpuStep:
    name: str
    runner: vairun.Runner
    inputs: list[Port]
    outputs: list[Port]
    ops: int
    op_types: dict[str, int]


@dataclass
class Plan:
    steps: list                                   # node names (run in torch) and DpuSteps, in order
    dpu: list[DpuStep]                            # the DPU steps that run
    cpu_ops: list[dict] = field(default_factory=list)          # torch-run nodes with their reasons
    dpu_not_used: list[dict] = field(default_factory=list)     # DPU subgraphs run in torch instead


def _resolve(g: xir.Graph, name: str, inv) -> tuple[str, bool] | None:
    if not g.has_op(name):
        return None
    op = g.get_op(name)
    while op.get_type() in BORDER_OPS:
        op = op.get_input_op("input")
    if op.get_name() in inv:
        return inv[op.get_name()]
    if op.get_type() == "transpose":
        src = _resolve(g, op.get_input_op("input").get_name(), inv)
        order = list(op.get_attr("order"))
        if src and not src[1] and order == TO_NHWC:
            return src[0], True
        if src and src[1] and order == TO_NCHW:
            return src[0], False
    return None


def _ports(g, infos, inv, q) -> tuple[list[Port] | None, str]:
    ports = []
    for t in infos:
        r = _resolve(g, t.name, inv)
        if r is None:
            return None, f"tensor {t.name} at its border is no value of the torch model"
        node, nhwc = r
        fp = int(t.get_attr("fix_point"))
        if not q.table.has(node) or q.table.get(node) != fp:
            return None, f"tensor {t.name} is at fix position {fp}, the quantizer's {node} is not"
        ports.append(Port(t.name, node, nhwc, fp, list(t.dims[1:])))
    return ports, ""


def _cpu_reason(sgs_of_op: dict, name: str) -> tuple[str, str] | None:
    sg = sgs_of_op.get(name)
    if sg is None or sg.get_attr("device") != "CPU" or not sg.has_attr("cpu_reasons"):
        return None
    text = sg.get_attr("cpu_reasons").get(name)
    if not text:
        return None
    code, _, why = text.partition(": ")
    return code, why


def build_plan(q, deploy: Deploy, compiled: Compiled, min_ops: int = 1) -> Plan:
    g = compiled.graph
    qg = q.graph
    inv = deploy.value_ops
    order = {n.name: i for i, n in enumerate(qg.nodes)}
    subgraphs = g.get_root_subgraph().toposort_child_subgraph()
    sg_of_op = {op.get_name(): sg for sg in subgraphs for op in sg.get_ops()}
    steps_ok: list[DpuStep] = []
    not_used: list[dict] = []
    not_used_of_op: dict[str, str] = {}
    for sg in subgraphs:
        if sg.get_attr("device") != "DPU":
            continue
        kinds = Counter(o.get_type() for o in sg.get_ops() if o.get_type() not in NOT_COUNTED)
        count = sum(kinds.values())
        runner = vairun.Runner.create_runner(sg, "run")
        ins, why = _ports(g, runner.get_input_tensors(), inv, q)
        outs, why_out = _ports(g, runner.get_output_tensors(), inv, q) if ins is not None else (None, "")
        why = why or why_out
        if ins is not None and outs is not None and count < min_ops:
            why = f"{count} op(s), fewer than wego_subgraph_min_ops_number={min_ops}"
        if why:
            not_used.append({"name": sg.get_name(), "ops": count, "reason": why})
            for o in sg.get_ops():
                not_used_of_op[o.get_name()] = why
            continue
        steps_ok.append(DpuStep(sg.get_name(), runner, ins, outs, count, dict(sorted(kinds.items()))))

    producer: dict[str, DpuStep] = {}
    for st in steps_ok:
        for p in st.outputs:
            producer.setdefault(p.node, st)
    torch_nodes: set[str] = set()
    used: dict[str, DpuStep] = {}
    stack = list(qg.outputs)
    while stack:
        name = stack.pop()
        st = producer.get(name)
        if st is not None:
            if st.name not in used:
                used[st.name] = st
                stack.extend(p.node for p in st.inputs)
        elif name not in torch_nodes:
            torch_nodes.add(name)
            stack.extend(qg.node(name).inputs)

    # topological order over the units (torch nodes and DPU steps), the model's order breaking ties
    def source(name):
        return producer[name].name if name in producer else name
    deps: dict[str, set[str]] = {}
    key: dict[str, int] = {}
    for name in torch_nodes:
        deps[name] = {source(i) for i in qg.node(name).inputs}
        key[name] = order[name]
    for st in used.values():
        deps[st.name] = {source(p.node) for p in st.inputs}
        key[st.name] = min(order[p.node] for p in st.outputs)
    users: dict[str, list[str]] = {u: [] for u in deps}
    for u, ds in deps.items():
        for d in ds:
            users[d].append(u)
    left = {u: len(ds) for u, ds in deps.items()}
    ready = [(key[u], u) for u, n in left.items() if n == 0]
    heapq.heapify(ready)
    steps = []
    while ready:
        _, u = heapq.heappop(ready)
        steps.append(used[u] if u in used else u)
        for v in users[u]:
            left[v] -= 1
            if left[v] == 0:
                heapq.heappush(ready, (key[v], v))
    if len(steps) != len(deps):
        raise RuntimeError("wego_torch: the execution plan has a cycle (a bug of ours)")

    cpu_ops = []
    for name in sorted(torch_nodes, key=order.get):
        n = qg.node(name)
        if n.kind == "input":
            continue
        if name in deploy.cut:
            code, why = "NO_XIR_OP", deploy.cut[name]
        else:
            op_name = deploy.values[name][0] if name in deploy.values else None
            r = None
            for cand in (name, op_name):   # the node's own op first, then the op carrying its value
                r = r or (_cpu_reason(sg_of_op, cand) if cand else None)
            if r is not None:
                code, why = r
            elif name in not_used_of_op or op_name in not_used_of_op:
                code, why = "DPU_SUBGRAPH_NOT_USED", not_used_of_op.get(name) or not_used_of_op[op_name]
            else:
                code, why = "WITH_CPU_NEIGHBOURS", "its value is only needed by ops that run on the CPU"
        cpu_ops.append({"node": name, "kind": n.source or n.kind, "code": code, "reason": why})
    dpu = [used[s.name] for s in steps_ok if s.name in used]
    return Plan(steps, dpu, cpu_ops, not_used)
