"""vaiq graph nodes as the compiler will see them: the fixed op of the canonical graph that carries
each node's value.

Rule: the quantizer does not restate the compiler's canonicalisations. It builds the deploy graph it
would export (vaiq/export_xmodel.py) and canonicalises it with the compiler's own transforms
(``xir.transforms.canonicalize``: fix folding, channel-permute folding, dense -> 1x1 conv, zero-pad
folding); a node is then described (``xir.target.describe``) as the fixed op carrying its value. Before
calibration the fix positions are placeholders (0, at the node's bit width): no placement rule applied
here reads them. A node the deploy graph cannot hold (a float op with no XIR equivalent) enters as a
float input of its shape, which is what it is to the ops that read it. A zero pad the canonicalisation
removed was folded into the op that reads it, a layout op of a channel shuffle into the chain's last op.
"""
from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import numpy as np

import xir
from xir.target.describe import describe_op
from xir.target.placement import OpDesc
from xir.transforms import canonicalize
from xir.transforms.dense_to_conv import conv_name

from .export_xmodel import _Builder
from .fixtable import FixTable
from .ir import Node, QGraph

#: rounding written into the placeholder fix ops (placement does not depend on it)
_ROUND = "STD_ROUND"


class _ViewBuilder(_Builder):
    """The deploy-graph builder, with a float input standing in for nodes XIR cannot hold."""

    def build(self):
        for n in self.g.nodes:
            fn = getattr(self, "n_" + n.kind.replace("-", "_"), None)
            if fn is not None:
                fn(n)
                continue
            d = self.op(n.name, "data", {"shape": [int(s) for s in n.shape], "data_type": "float32"})
            self.set(n, d, False)
        return self.x

    def const_fix(self, name: str, value, key: str):
        """A parameter as zeros of its shape: no placement rule reads weight values, and rounding a
        model's weights for the view would cost more than the rest of it."""
        c = self.x.create_const_op(name, np.zeros(tuple(value.shape), np.float32))
        return self.fix(c, f"{name}_fix", 0, self.t.param_bits[key], _ROUND)


def _placeholder_table(graph: QGraph, bits: int) -> FixTable:
    t = FixTable(graph)
    t.pos = defaultdict(int)
    t.bits = defaultdict(lambda: bits)
    t.param_pos = defaultdict(int)
    t.param_bits = defaultdict(lambda: bits)
    return t


class CanonicalView:
    """The canonical graph of a QGraph and, per node, the fixed op that carries its value."""

    def __init__(self, graph: QGraph, bits: int = 8):
        self.graph = graph
        q = SimpleNamespace(graph=graph, table=_placeholder_table(graph, bits),
                            config=SimpleNamespace(round_for=lambda n: _ROUND),
                            quant_model=SimpleNamespace(params_of=lambda name: graph.node(name).params))
        b = _ViewBuilder(q)
        deploy = b.build()
        deploy.declare_outputs([b.val[o].get_name() for o in graph.outputs])   # as the export declares them
        self.carrier = {name: op.get_name() for name, op in b.val.items()}
        #: the layout conversions (transposes) the export wrote of each node's value, NHWC first: one of
        #: them carries the value when the node's own op was merged into a layout chain ending there
        self.converted: dict[str, list[str]] = defaultdict(list)
        for (name, want_nhwc), op in sorted(b._converted.items(), key=lambda kv: not kv[0][1]):
            self.converted[name].append(op.get_name())
        self.canonical, self.log = canonicalize(deploy)

    def op_of(self, n: Node) -> xir.Op | None:
        """The canonical op carrying node ``n``'s value, or else the one carrying the export's layout
        conversion of it; None when the canonicalisation folded it away. A dense layer's value is
        carried by the 1x1 conv it becomes (its own name stays on the reshape after that conv); a pool
        that drops H and W (``x.mean([2, 3])``) by the pool ahead of its squeeze reshape."""
        name = self.carrier.get(n.name)
        h = self.canonical
        if name is not None and not h.has_op(name):
            # a channel-permuting layout chain became one conv named after the chain's last link, which
            # may be the export's transpose of this node's value (xir/transforms/channel_permute.py)
            name = next((c for c in self.converted.get(n.name, ()) if h.has_op(c)), None)
        if name is None or not h.has_op(name):
            return None
        if n.kind == "inner-product" and h.has_op(conv_name(name)):
            return h.get_op(conv_name(name))
        op = h.get_op(name)
        if n.attrs.get("squeeze") and op.get_type() == "reshape-fix":     # a pool with its own squeeze
            return op.get_input_op("input")
        return op

    def describe(self, n: Node) -> OpDesc | None:
        """The placement description of node ``n``; None when it was folded away."""
        op = self.op_of(n)
        return None if op is None else describe_op(op)

    def folded_into(self, n: Node) -> Node | None:
        """The node a folded-away node ``n`` became part of: the one node reading it (a zero pad
        becomes its reader's padding; a link of a channel-permuting layout chain, its 1x1 conv)."""
        if self.op_of(n) is not None or n.name not in self.carrier:
            return None
        users = self.graph.users()[n.name]
        return users[0] if len(users) == 1 else None
