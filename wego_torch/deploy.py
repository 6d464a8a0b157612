"""The deploy graph WeGO hands to the compiler, and which quantizer node each of its values is.

Rules: every node of the quantizer's graph that the deploy graph can hold is exported by vaiq's own
exporter (``vaiq.export_xmodel.build_deploy_graph``); a node it cannot hold (an aten op with no XIR
equivalent, such as GELU) is cut out: its value enters the deploy graph as an input (``data``, with
the node's fix position when it has one), and the values it reads become outputs. The cut nodes run
in torch. ``values`` maps each node to the op carrying its value (a cut node's: the input standing
in for it) and whether that value is NHWC; ``value_ops`` maps back, by the names the compiled graph
keeps (vaic names a fixed op after the fix it absorbs, but a ``data -> fix`` pair keeps the data op's
name, so that name is added).

``model_digest`` is what the deploy graph is a function of: every node (kind, wiring, attributes,
roles, parameter bytes), every fix position, the quantizer's configuration, and the source of the
code that writes and compiles it (vaiq, vaic, xir); it keys the compile cache, so a second compile of
the same model and quantization result needs no deploy graph at all.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import xir
from vaiq.errors import VaiqError
from vaiq.export_xmodel import build_deploy_graph, exportable
from vaiq.fixtable import FixTable
from vaiq.ir import Node, QGraph
from vaiq.prepare import has_fix


@dataclass
class Deploy:
    graph: xir.Graph | None                 # None when the compiled model came from the cache
    values: dict[str, tuple[str, bool]]     # quantizer node -> (op name, value is NHWC)
    cut: dict[str, str]                     # node cut out of the deploy graph -> why
    value_ops: dict[str, tuple[str, bool]] = field(default_factory=dict)   # op name -> (node, NHWC)

    def to_json(self) -> dict:
        return {"values": self.values, "cut": self.cut, "value_ops": self.value_ops}

    @staticmethod
    def from_json(d: dict) -> "Deploy":
        return Deploy(None, {k: tuple(v) for k, v in d["values"].items()}, dict(d["cut"]),
                      {k: tuple(v) for k, v in d["value_ops"].items()})


def _value_ops(g: xir.Graph, values: dict[str, tuple[str, bool]]) -> dict[str, tuple[str, bool]]:
    inv: dict[str, tuple[str, bool]] = {}
    for node, (op_name, nhwc) in values.items():
        inv.setdefault(op_name, (node, nhwc))
        op = g.get_op(op_name)
        if op.get_type() == "fix" and op.get_input_op("input").get_type() == "data":
            inv.setdefault(op.get_input_op("input").get_name(), (node, nhwc))
    return inv


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
        return Deploy(g, values, cut, _value_ops(g, values))
    raise VaiqError("the deploy graph could not be built")   # unreachable: each round cuts one more node


def _feed(h, obj) -> None:
    """Hash ``obj`` exactly: tensors by dtype, shape and bytes, containers element by element."""
    import torch
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        h.update(b"{")
        for k in sorted(obj, key=repr):
            _feed(h, k)
            _feed(h, obj[k])
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(b"(" if isinstance(obj, tuple) else b"[")
        for v in obj:
            _feed(h, v)
        h.update(b")")
    else:
        h.update(repr(obj).encode())


@lru_cache(maxsize=1)
def _code_digest() -> str:
    import vaic
    import vaiq
    h = hashlib.md5()
    for pkg in (vaiq, vaic, xir):
        root = Path(pkg.__file__).parent
        for f in sorted(root.rglob("*.py")):
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def model_digest(q) -> str:
    """The digest of everything the deploy graph of test-mode quantizer ``q`` is made from."""
    h = hashlib.md5(_code_digest().encode())
    g, t = q.graph, q.table
    _feed(h, (g.name, g.inputs, g.outputs, g.input_shapes, repr(q.config)))
    for n in g.nodes:
        _feed(h, (n.name, n.kind, n.inputs, n.attrs, n.params, n.act, n.act_attrs, n.param_names, n.quant,
                  n.reason, n.shape, n.source))
        if t.has(n.name):
            _feed(h, (t.get(n.name), t.bw(n.name)))
    _feed(h, (t.param_pos, t.param_bits))
    return h.hexdigest()
