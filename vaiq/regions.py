"""What is quantized: QuantStub/DeQuantStub regions and a target's placement rules.

Rules:
- stubs (pytorch_nndct's semantics): when the captured graph holds any ``quant_stub`` /
  ``dequant_stub`` marker, a node is quantized only when a QuantStub lies upstream of it with no
  DeQuantStub between (a node reading a quantized and a float tensor is quantized; the float one
  gets a fix position where it enters); every other node stays float with the reason
  :data:`OUTSIDE`. A QuantStub on a float tensor places a fix position on it (a graph input read by
  a QuantStub keeps its own fix position). The markers are removed: they never reach an export;
- target (``torch_quantizer(..., target=...)``): a node the target's DPU would not run, judged as
  the compiler judges it (vaiq.cli_inspect.placement on vaiq.describe's canonical view, also for
  targets vaic does not compile such as the IPU overlay), stays float with the rule's
  ``"CODE: sentence"`` as its reason; repeated until no verdict changes, since a node turned float
  changes how its neighbours are described and quantized (prepare.assign_roles).
Both decisions are recorded by node name so they survive graph preparation (:meth:`Decisions.apply`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .cli_inspect import placement
from .describe import CanonicalView
from .ir import QGraph
from .prepare import _remove, _replace_uses, assign_roles

OUTSIDE = "outside the QuantStub/DeQuantStub regions"
MARKER_KINDS = ("quant_stub", "dequant_stub")


@dataclass
class Decisions:
    """Nodes kept float (name -> reason) and the float tensors a QuantStub quantizes."""
    float_nodes: dict[str, str] = field(default_factory=dict)
    quant_points: set[str] = field(default_factory=set)

    def apply(self, g: QGraph) -> None:
        """Mark the nodes (those still in the graph) and settle the quant roles again."""
        if not self.float_nodes and not self.quant_points:
            return
        for n in g.nodes:
            if n.name in self.float_nodes:
                n.quant, n.reason = "float", self.float_nodes[n.name]
            if n.name in self.quant_points:
                n.attrs["quant_point"] = True
        assign_roles(g)


def apply_stubs(g: QGraph) -> Decisions:
    """Decide the quantized regions from the stub markers and remove the markers (module rule)."""
    markers = [n for n in g.nodes if n.kind in MARKER_KINDS]
    if not markers:
        return Decisions()
    quantized: dict[str, bool] = {}
    quant_points: set[str] = set()
    for n in g.nodes:
        if n.kind == "input":
            quantized[n.name] = False
        elif n.kind == "quant_stub":
            src = n.inputs[0]
            if not quantized[src]:
                quant_points.add(src)
            quantized[n.name] = True
        elif n.kind == "dequant_stub":
            quantized[n.name] = False
        else:
            quantized[n.name] = any(quantized[i] for i in n.inputs)
    for m in markers:          # in graph order, so a chain of markers resolves to its first input
        _replace_uses(g, m.name, m.inputs[0])
        _remove(g, m)
    quant_points = {_resolve(p, markers) for p in quant_points}
    float_nodes = {n.name: (n.reason if n.quant == "float" and n.reason else OUTSIDE) for n in g.nodes
                   if not quantized[n.name] and not (n.kind == "input" and n.name in quant_points)}
    d = Decisions(float_nodes, quant_points)
    d.apply(g)
    return d


def _resolve(name: str, markers) -> str:
    by_name = {m.name: m for m in markers}
    while name in by_name:
        name = by_name[name].inputs[0]
    return name


def apply_target(g: QGraph, target, decisions: Decisions) -> Decisions:
    """Keep float every node ``target``'s DPU would not run (module rule); adds to ``decisions``."""
    for _ in range(len(g.nodes) + 1):
        changed = False
        view = CanonicalView(g)
        for n in g.nodes:
            if n.kind == "input" or n.quant == "float":
                continue
            device, why = placement(n, target, view, any_target=True)
            if device == "CPU":
                n.quant, n.reason = "float", why
                decisions.float_nodes[n.name] = why
                changed = True
        assign_roles(g)
        if not changed:
            break
    return decisions
