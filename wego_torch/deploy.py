"""The deploy graph WeGO hands to the compiler, and which quantizer node each of its values is.

Rules: every node of the quantizer's graph that the deploy graph can hold is exported by vaiq's own
exporter (``vaiq.export_xmodel.build_deploy_graph``); a node it cannot hold (an aten op with no XIR
equivalent, such as GELU) is cut out: its value enters the deploy graph as an input (``data``, with
the node's fix position when it has one), and the values it reads become outputs. The cut nodes run
in torch. ``values`` maps each node to the op carrying its value (a cut node's: the input standing
in for it) and whether that value is NHWC.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from types import SimpleNamespace

import xir
from vaiq.errors import VaiqError
from vaiq.export_xmodel import build_deploy_graph, exportable
from vaiq.fixtable import FixTable
from vaiq.ir import Node, QGraph
from vaiq.prepare import has_fix


@dataclass
class Deploy:
    graph: xir.Graph
    values: dict[str, tuple[str, bool]]     # quantizer node -> (op name, value is NHWC)
    cut: dict[str, str]                     # node cut out of the deploy graph -> why


def _cut_graph(q, cut: dict[str, str]) -> SimpleNamespace:
    """A quantizer view whose graph has the cut nodes replaced by inputs carrying their fix."""
    g: QGraph = q.graph
    nodes, inputs, shapes = [], list(g.inputs), dict(g.input_shapes)
    for n in g.nodes:
        if n.name in cut:
            nodes.append(Node(n.name, "input", shape=n.shape, quant="own" if has_fix(n) else "float"))
            inputs.append(n.name)
            shapes[n.name] = n.shape
        else:
            nodes.append(n)
    h = replace(g, nodes=nodes, inputs=inputs, input_shapes=shapes)
    table = FixTable(h)
    for name in table.parent:
        r = table.root(name)
        table.pos[r], table.bits[r] = q.table.get(name), q.table.bw(name)
    table.param_pos, table.param_bits = dict(q.table.param_pos), dict(q.table.param_bits)
    return SimpleNamespace(graph=h, table=table, config=q.config, quant_model=q.quant_model)


def deploy_graph(q) -> Deploy:
    """Build the deploy graph of test-mode quantizer ``q``, cutting out what it cannot hold."""
    cut = {n.name: n.reason or f"{n.source or n.kind} has no XIR equivalent"
           for n in q.graph.nodes if n.kind != "input" and not exportable(n)}
    for _ in range(len(q.graph.nodes) + 1):
        view = _cut_graph(q, cut)
        values: dict[str, tuple[str, bool]] = {}
        try:
            g = build_deploy_graph(view, values)
        except VaiqError as e:      # a node the exporter refuses (e.g. a linear layer on a 3-D tensor)
            m = re.search(r"node '([^']+)'", str(e))
            if not m or m.group(1) in cut or m.group(1) not in {n.name for n in q.graph.nodes}:
                raise
            cut[m.group(1)] = str(e)
            continue
        return Deploy(g, values, cut)
    raise VaiqError("the deploy graph could not be built")   # unreachable: each round cuts one more node
