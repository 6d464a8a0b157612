"""Reading and writing .xmodel files (XIR graph_proto_v2 on the wire).

Rules:
- writing is deterministic (ops in topological order, attributes and map keys sorted, op definitions
  of the types used sorted by name) and atomic (a temporary file in the target directory, then
  ``os.replace``), so a crash never leaves half a model behind;
- reading never shows a protobuf traceback: a missing, empty, truncated, corrupt or non-xmodel file
  raises :class:`XModelError` naming the file and what is wrong;
- a file is only accepted when it forms a valid graph (known op types, inputs that exist, no cycle,
  dims that match the op library's shape rules, a root subgraph, an op definition for every type).
"""
from __future__ import annotations

import mmap
import os
from pathlib import Path

from google.protobuf.message import DecodeError

from .attrs import from_proto, to_proto
from .dtypes import dtype_from_wire, dtype_to_wire
from .errors import XirError, XModelError
from .files import write_atomic  # noqa: F401  (its home is xir.files; kept here for importers)
from .graph import Graph, Op, Subgraph, Tensor
from .ops.registry import get_op_def, has_op_def, opdef_to_proto
from .proto import graph_proto_v2_pb2 as pb


# ---- graph -> wire ------------------------------------------------------------------------

def _attrs_to(holder, target) -> None:
    for k in sorted(holder._attrs):
        atype, value = holder._attrs[k]
        to_proto(atype, value, target[k])


def _tensor_to(t: Tensor, msg) -> None:
    msg.tensor_name = t.name
    msg.tensor_dim.extend(t.dims)
    msg.data_type, msg.tensor_bit_width = dtype_to_wire(t.dtype)
    _attrs_to(t, msg.tensor_attr)


def _subgraph_to(s: Subgraph, msg) -> None:
    msg.subgraph_name = s.name
    if s.is_leaf:
        msg.op_name.extend(sorted(s._op_names))
    _attrs_to(s, msg.subg_attr)
    for c in s.children:
        _subgraph_to(c, msg.subg_child.add())


def graph_to_proto(g: Graph) -> pb.Graph:
    m = pb.Graph()
    m.graph_name = g.name
    for op in g.toposort():
        n = m.op_node.add()
        n.op_name = op.name
        n.op_type = op.type
        _attrs_to(op, n.op_attr)
        for arg in op.op_def.args:
            ops = op._inputs.get(arg.name, [])
            if ops:
                a = n.args.add()
                a.arg_name = arg.name
                a.arg_ops.extend(o.name for o in ops)
        _tensor_to(op.get_output_tensor(), n.output_tensor)
    _subgraph_to(g.root, m.subg_root)
    _attrs_to(g, m.graph_attr)
    for t in sorted({op.type for op in g._ops.values()}):
        opdef_to_proto(get_op_def(t), m.op_defs.add())
    return m


def graph_to_bytes(g: Graph) -> bytes:
    return graph_to_proto(g).SerializeToString(deterministic=True)


def save_graph(g: Graph, path) -> None:
    """Validate ``g`` and write it to ``path`` as an .xmodel."""
    g.validate()
    write_atomic(path, graph_to_bytes(g))


# ---- wire -> graph ------------------------------------------------------------------------

def _attrs_from(msg_map, holder) -> None:
    for k in sorted(msg_map):
        holder._attrs[k] = from_proto(msg_map[k])


def _ordered_nodes(m: pb.Graph, where: str):
    """Op nodes in an order where producers come first (files from other writers need not be)."""
    nodes = {}
    for n in m.op_node:
        if not n.op_name or not n.op_type:
            raise XModelError(f"{where}: an op node has no name or type")
        if n.op_name in nodes:
            raise XModelError(f"{where}: op name '{n.op_name}' appears twice")
        nodes[n.op_name] = n
    order, state = [], {}
    for name in nodes:
        stack = [(name, iter([o for a in nodes[name].args for o in a.arg_ops]))]
        if state.get(name):
            continue
        state[name] = 1
        while stack:
            cur, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[cur] = 2
                order.append(nodes[cur])
                continue
            if nxt not in nodes:
                raise XModelError(f"{where}: op '{cur}' reads '{nxt}', which is not in the model")
            if state.get(nxt) == 1:
                raise XModelError(f"{where}: ops form a cycle through '{nxt}'")
            if not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter([o for a in nodes[nxt].args for o in a.arg_ops])))
    return order


def _subgraph_from(msg, s: Subgraph, where: str) -> None:
    s.name = msg.subgraph_name or s.name
    _attrs_from(msg.subg_attr, s)
    if msg.subg_child:
        for cm in msg.subg_child:
            c = Subgraph(s.graph, cm.subgraph_name, s)
            _subgraph_from(cm, c, where)
            s.children.append(c)
        s._op_names = set().union(*(c._op_names for c in s.children))
    else:
        for n in msg.op_name:
            if n not in s.graph._ops:
                raise XModelError(f"{where}: subgraph '{msg.subgraph_name}' lists op '{n}', which is not in the model")
        s._op_names = set(msg.op_name)


def graph_from_proto(m: pb.Graph, where: str) -> Graph:
    if not m.graph_name:
        raise XModelError(f"{where}: not an .xmodel (the graph has no name)")
    if not m.op_node:
        raise XModelError(f"{where}: not an .xmodel, or an empty one (the graph has no ops)")
    if not m.HasField("subg_root"):
        raise XModelError(f"{where}: the model has no root subgraph (truncated file?)")
    defined = {d.name for d in m.op_defs}
    g = Graph(m.graph_name)
    for n in _ordered_nodes(m, where):
        if not has_op_def(n.op_type):
            raise XModelError(f"{where}: op '{n.op_name}' has type '{n.op_type}', which this toolchain does not know")
        if n.op_type not in defined:
            raise XModelError(f"{where}: no op definition for type '{n.op_type}' (truncated file?)")
        op = Op(g, n.op_name, n.op_type)
        _attrs_from(n.op_attr, op)
        g._ops[op.name] = op
        g._fanouts[op.name] = []
        for a in n.args:
            if op.op_def.arg(a.arg_name) is None:
                raise XModelError(f"{where}: op '{op.name}' ({op.type}) has an unknown input argument '{a.arg_name}'")
            op._inputs[a.arg_name] = [g._ops[x] for x in a.arg_ops]
            for x in a.arg_ops:
                g._fanouts[x].append(op)
        t = n.output_tensor
        op._output = Tensor(t.tensor_name or op.name, t.tensor_dim,
                            dtype_from_wire(t.data_type, t.tensor_bit_width), op)
        _attrs_from(t.tensor_attr, op._output)
    # the file's creation order is the node order, which our writer makes topological
    g._ops = {n.op_name: g._ops[n.op_name] for n in m.op_node}
    g._dirty()
    g.root._op_names = set(g._ops)
    _subgraph_from(m.subg_root, g.root, where)
    _attrs_from(m.graph_attr, g)
    return g


def graph_from_bytes(data: bytes, where: str = "<bytes>") -> Graph:
    """The graph of an .xmodel's bytes; ``where`` names them in errors (a path ending in .onnx: the error
    adds that a float ONNX model is quantized into an .xmodel first)."""
    try:
        return _graph_from_bytes(data, where)
    except XModelError as e:
        if str(where).lower().endswith(".onnx"):
            name = Path(str(where)).name
            raise XModelError(f"{e}; {name} looks like an ONNX model: quantize it first "
                              f"(vaiq quantize --model {name} ...) and give its <Net>_int.xmodel") from None
        raise


def _graph_from_bytes(data: bytes, where: str) -> Graph:
    if not data:
        raise XModelError(f"{where}: the file is empty, not an .xmodel")
    m = pb.Graph()
    try:
        m.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise XModelError(f"{where}: not an .xmodel, or a truncated/corrupt one "
                          f"(protobuf data does not parse: {str(e) or type(e).__name__})") from None
    try:
        g = graph_from_proto(m, where)
        g.validate()
    except XModelError:
        raise
    except (XirError, KeyError, UnicodeDecodeError) as e:
        raise XModelError(f"{where}: the model is not a valid graph: {e}") from None
    return g


def load_graph(path) -> Graph:
    """Read an .xmodel file into a Graph.

    A regular file is parsed straight from a read-only memory map of it (the parser copies what it
    keeps, so the map is closed when the graph is built); anything else is read into memory first."""
    p = Path(path)
    if not p.exists():
        raise XModelError(f"{p}: no such file")
    if p.is_dir():
        raise XModelError(f"{p}: is a directory, not an .xmodel file")
    try:
        with open(p, "rb") as f:
            try:
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if os.fstat(f.fileno()).st_size else None
            except (OSError, ValueError):   # not a regular file, or one that cannot be mapped
                mapped = None
            if mapped is None:
                data = f.read()
            else:
                with mapped, memoryview(mapped) as view:
                    return graph_from_bytes(view, str(p))
    except OSError as e:
        raise XModelError(f"{p}: cannot read: {e.strerror or e}") from None
    return graph_from_bytes(data, str(p))
