"""The graph model: Graph, Op, Tensor, Subgraph, with the names XIR's Python API uses.

Rules this module enforces:
- op names are unique in a graph and every op has a registered type (see :mod:`xir.ops`);
- an op's inputs are ops of the same graph, grouped by the argument names of its op definition;
- every op has one output tensor whose dims and data type follow the op definition's shape rule,
  inferred when the op is created (and again by :meth:`Graph.infer_shapes` after edits);
- attributes carry XIR types (declared by the op definition, inferred otherwise);
- the root subgraph covers every op and each subgraph's children partition their parent's ops.
Errors name the offending op.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from .attrs import coerce, infer_type
from .dtypes import dtype_of_numpy, normalize_dtype, numpy_dtype
from .errors import AttrError, GraphError, OpDefError
from .ops.registry import OpDef, ShapeError, get_op_def


class _AttrHolder:
    """Typed attributes: ``name -> (type, value)``; values come back in their canonical Python form."""

    _attrs: dict[str, tuple[str, Any]]

    def _what(self) -> str:  # pragma: no cover - overridden
        return "object"

    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    def get_attr(self, name: str) -> Any:
        try:
            return self._attrs[name][1]
        except KeyError:
            raise GraphError(f"{self._what()} has no attribute '{name}'") from None

    def get_attr_type(self, name: str) -> str:
        if name not in self._attrs:
            raise GraphError(f"{self._what()} has no attribute '{name}'")
        return self._attrs[name][0]

    def get_attrs(self) -> dict[str, Any]:
        return {k: v for k, (_, v) in self._attrs.items()}

    def set_attr(self, name: str, value: Any, atype: str | None = None):
        """Set an attribute; ``atype`` forces a wire type (e.g. ``"uint64"``), else it is inferred."""
        try:
            t = atype or infer_type(value)
            self._attrs[name] = (t, coerce(value, t))
        except AttrError as e:
            raise AttrError(f"{self._what()}: attribute '{name}': {e}") from None
        return self

    def del_attr(self, name: str) -> None:
        self._attrs.pop(name, None)


class Tensor(_AttrHolder):
    """The output of one op: name, dims, data type (``xint8``, ``float32`` ...) and attributes such as
    ``fix_point``, ``reg_id``, ``ddr_addr``."""

    def __init__(self, name: str, dims: Iterable[int], dtype: str, producer: "Op | None" = None):
        self.name = name
        self.dims = [int(d) for d in dims]
        self.dtype = normalize_dtype(dtype)
        self.producer = producer
        self._attrs = {}

    def _what(self) -> str:
        return f"tensor '{self.name}'"

    def get_name(self) -> str:
        return self.name

    @property
    def ndim(self) -> int:
        return len(self.dims)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.dims)

    def get_element_num(self) -> int:
        return math.prod(self.dims)

    def get_data_size(self) -> int:
        """Bytes the tensor occupies with one element per numpy item (xint8 -> 1 byte)."""
        return self.get_element_num() * numpy_dtype(self.dtype).itemsize

    def __repr__(self) -> str:
        return f"Tensor({self.name!r}, dims={self.dims}, dtype={self.dtype!r})"


class Op(_AttrHolder):
    """One node: a type from the op library, attributes, inputs grouped by argument, one output tensor."""

    def __init__(self, graph: "Graph", name: str, op_type: str):
        self.graph = graph
        self.name = name
        self.type = op_type
        self.op_def: OpDef = get_op_def(op_type)
        self._attrs = {}
        self._inputs: dict[str, list[Op]] = {a.name: [] for a in self.op_def.args}
        self._output: Tensor | None = None

    # -- identity --------------------------------------------------------------------------
    def _what(self) -> str:
        return f"op '{self.name}' ({self.type})"

    def get_name(self) -> str:
        return self.name

    def get_type(self) -> str:
        return self.type

    def get_graph(self) -> "Graph":
        return self.graph

    def __repr__(self) -> str:
        return f"Op({self.name!r}, {self.type!r})"

    # -- attributes (typed by the op definition) -------------------------------------------
    def set_attr(self, name: str, value: Any, atype: str | None = None):
        d = self.op_def.attr(name)
        if d is None:
            return super().set_attr(name, value, atype)
        try:
            self._attrs[name] = (d.atype, self.op_def.check_attr(name, value))
        except (AttrError, OpDefError) as e:
            raise OpDefError(f"{self._what()}: attribute '{name}': {e}") from None
        return self

    def get_attr_or_default(self, name: str) -> Any:
        if name in self._attrs:
            return self._attrs[name][1]
        d = self.op_def.attr(name)
        if d is None:
            raise GraphError(f"{self._what()} has no attribute '{name}' and its type defines none")
        return d.default

    # -- inputs ------------------------------------------------------------------------------
    def get_input_ops(self, arg: str | None = None):
        """All inputs as ``{arg_name: [ops]}`` (XIR style), or the list of one argument."""
        if arg is None:
            return {k: list(v) for k, v in self._inputs.items() if v}
        return list(self._inputs.get(arg, []))

    def get_input_op(self, arg: str, idx: int = 0) -> "Op":
        ops = self._inputs.get(arg, [])
        if idx >= len(ops):
            raise GraphError(f"{self._what()} has no input {arg}[{idx}]")
        return ops[idx]

    @property
    def inputs(self) -> list["Op"]:
        """Every input op, in argument order."""
        return [o for ops in self._inputs.values() for o in ops]

    def get_input_num(self, arg: str | None = None) -> int:
        return len(self.inputs) if arg is None else len(self._inputs.get(arg, []))

    def get_input_tensors(self, arg: str | None = None) -> list[Tensor]:
        ops = self.inputs if arg is None else self._inputs.get(arg, [])
        return [o.get_output_tensor() for o in ops]

    def get_input_tensor(self, arg: str, idx: int = 0) -> Tensor:
        return self.get_input_op(arg, idx).get_output_tensor()

    def set_input_ops(self, arg: str, ops: list["Op"]) -> None:
        """Replace the ops of one argument (checked against the op definition)."""
        if self.op_def.arg(arg) is None:
            raise OpDefError(f"{self._what()} has no input argument '{arg}'; "
                             f"it takes {[a.name for a in self.op_def.args]}")
        for o in ops:
            if o.graph is not self.graph or self.graph._ops.get(o.name) is not o:
                raise GraphError(f"{self._what()}: input '{o.name}' is not an op of graph '{self.graph.name}'")
        old = self._inputs.get(arg, [])
        for o in old:
            self.graph._fanouts[o.name].remove(self)
        self._inputs[arg] = list(ops)
        for o in ops:
            self.graph._fanouts[o.name].append(self)
        self.graph._dirty()

    def replace_input_op(self, old: "Op", new: "Op") -> None:
        """Make every input edge from ``old`` come from ``new`` instead."""
        for arg, ops in self._inputs.items():
            if any(o is old for o in ops):
                self.set_input_ops(arg, [new if o is old else o for o in ops])

    # -- output and fanout ----------------------------------------------------------------
    def get_output_tensor(self) -> Tensor:
        if self._output is None:
            raise GraphError(f"{self._what()} has no output tensor yet")
        return self._output

    def has_output_tensor(self) -> bool:
        return self._output is not None

    def get_fanout_ops(self) -> list["Op"]:
        return list(dict.fromkeys(self.graph._fanouts.get(self.name, [])))

    def get_fanout_num(self) -> int:
        return len(self.get_fanout_ops())

    def infer_shape(self) -> Tensor:
        """(Re)derive the output tensor's dims and dtype from the inputs; keeps tensor attributes."""
        try:
            dims, dtype = self.op_def.infer(self)
        except ShapeError as e:
            raise OpDefError(f"{self._what()}: {e}") from None
        if self._output is None:
            self._output = Tensor(self.name, dims, dtype, self)
        else:
            self._output.dims = [int(d) for d in dims]
            self._output.dtype = normalize_dtype(dtype)
        return self._output

    # -- constants ----------------------------------------------------------------------------
    def get_const_data(self) -> np.ndarray:
        """The elements of a ``const``/``const-fix`` op as a read-only numpy array of its shape."""
        if not self.has_attr("data"):
            raise GraphError(f"{self._what()} holds no constant data")
        dt = numpy_dtype(self.get_attr("data_type")).newbyteorder("<")
        return np.frombuffer(self.get_attr("data"), dtype=dt).reshape(self.get_attr("shape"))


class Subgraph(_AttrHolder):
    """A set of ops with attributes (``device``, ``mc_code`` ...) and optional children partitioning it."""

    def __init__(self, graph: "Graph", name: str, parent: "Subgraph | None" = None):
        self.graph = graph
        self.name = name
        self.parent = parent
        self.children: list[Subgraph] = []
        self._op_names: set[str] = set()
        self._attrs = {}

    def _what(self) -> str:
        return f"subgraph '{self.name}'"

    def __repr__(self) -> str:
        return f"Subgraph({self.name!r}, ops={len(self._op_names)}, children={len(self.children)})"

    def get_name(self) -> str:
        return self.name

    def get_graph(self) -> "Graph":
        return self.graph

    def get_parent(self) -> "Subgraph | None":
        return self.parent

    @property
    def is_leaf(self) -> bool:
        return not self.children

    @property
    def is_root(self) -> bool:
        return self.parent is None

    def get_children(self) -> list["Subgraph"]:
        return list(self.children)

    def get_children_num(self) -> int:
        return len(self.children)

    def get_depth(self) -> int:
        return 0 if self.parent is None else self.parent.get_depth() + 1

    def has_op(self, op: "Op | str") -> bool:
        return (op if isinstance(op, str) else op.name) in self._op_names

    def get_op_num(self) -> int:
        return len(self._op_names)

    def get_ops(self) -> list[Op]:
        """The subgraph's ops in the graph's topological order."""
        return [o for o in self.graph.toposort() if o.name in self._op_names]

    def get_input_tensors(self) -> list[Tensor]:
        """Tensors produced outside this subgraph and read inside it (first use order)."""
        seen: dict[str, Tensor] = {}
        for op in self.get_ops():
            for i in op.inputs:
                if i.name not in self._op_names and i.name not in seen:
                    seen[i.name] = i.get_output_tensor()
        return list(seen.values())

    def get_output_tensors(self) -> list[Tensor]:
        """Tensors produced inside and read outside, or graph outputs (see :meth:`Graph.get_output_ops`)."""
        outs = {o.name for o in self.graph.get_output_ops()}
        out = []
        for op in self.get_ops():
            fan = op.get_fanout_ops()
            if op.name in outs or any(f.name not in self._op_names for f in fan):
                out.append(op.get_output_tensor())
        return out

    def create_child(self, name: str, ops: Iterable["Op | str"]) -> "Subgraph":
        """Add a child covering ``ops`` (which must belong to this subgraph and to no other child)."""
        names = {o if isinstance(o, str) else o.name for o in ops}
        missing = names - self._op_names
        if missing:
            raise GraphError(f"{self._what()}: cannot create child '{name}': ops {sorted(missing)[:5]} are not in it")
        taken = set().union(*(c._op_names for c in self.children)) & names if self.children else set()
        if taken:
            raise GraphError(f"{self._what()}: ops {sorted(taken)[:5]} already belong to another child")
        child = Subgraph(self.graph, name, self)
        child._op_names = names
        self.children.append(child)
        return child

    def create_child_subgraph(self) -> list["Subgraph"]:
        """XIR's partition step: one leaf child per op (named after it)."""
        if self.children:
            raise GraphError(f"{self._what()} already has children")
        return [self.create_child(f"subgraph_{op.name}", [op]) for op in self.get_ops()]

    def remove_children(self) -> None:
        self.children = []

    def toposort_child_subgraph(self) -> list["Subgraph"]:
        """Children ordered so that every child comes after the children whose outputs it reads."""
        owner = {n: c for c in self.children for n in c._op_names}
        deps = {c.name: set() for c in self.children}
        for c in self.children:
            for n in c._op_names:
                for i in self.graph.get_op(n).inputs:
                    o = owner.get(i.name)
                    if o is not None and o is not c:
                        deps[c.name].add(o.name)
        order, done, pending = [], set(), list(self.children)
        while pending:
            ready = [c for c in pending if deps[c.name] <= done]
            if not ready:
                raise GraphError(f"{self._what()}: children depend on each other in a cycle: "
                                 f"{[c.name for c in pending][:5]}")
            c = ready[0]
            order.append(c)
            done.add(c.name)
            pending.remove(c)
        return order

    def find_leaf(self, op: "Op | str") -> "Subgraph | None":
        """The leaf subgraph under this one that holds ``op``."""
        name = op if isinstance(op, str) else op.name
        if name not in self._op_names:
            return None
        for c in self.children:
            leaf = c.find_leaf(name)
            if leaf is not None:
                return leaf
        return self

    def walk(self):
        """This subgraph and every descendant, parents before children."""
        yield self
        for c in self.children:
            yield from c.walk()


#: graph attribute declaring output ops (op names) besides the tail ops, see Graph.get_output_ops
OUTPUT_OPS_ATTR = "output_ops"


class Graph(_AttrHolder):
    """A named DAG of ops with graph attributes and a root subgraph.

    Outputs rule: a graph's outputs are its tail ops (no reader) plus the ops its ``output_ops``
    attribute declares (a model output that other ops also read), those that still exist, in
    topological order. Without the attribute the tail ops are the outputs."""

    def __init__(self, name: str):
        if not name:
            raise GraphError("a graph needs a non-empty name")
        self.name = name
        self._ops: dict[str, Op] = {}
        self._fanouts: dict[str, list[Op]] = {}
        self._attrs = {}
        self._topo: list[Op] | None = None
        self.root = Subgraph(self, "root")

    def _what(self) -> str:
        return f"graph '{self.name}'"

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, ops={len(self._ops)})"

    def _dirty(self) -> None:
        self._topo = None

    # -- XIR Python API names --------------------------------------------------------------
    def get_name(self) -> str:
        return self.name

    def set_name(self, name: str) -> None:
        self.name = name

    def get_root_subgraph(self) -> Subgraph:
        return self.root

    def get_op(self, name: str) -> Op:
        try:
            return self._ops[name]
        except KeyError:
            raise GraphError(f"graph '{self.name}' has no op named '{name}'") from None

    def has_op(self, name: str) -> bool:
        return name in self._ops

    def get_op_num(self) -> int:
        return len(self._ops)

    def get_ops(self) -> list[Op]:
        return self.toposort()

    def get_head_ops(self) -> list[Op]:
        return [o for o in self.toposort() if not o.inputs]

    def get_tail_ops(self) -> list[Op]:
        return [o for o in self.toposort() if not self._fanouts[o.name]]

    def get_output_ops(self) -> list[Op]:
        """The graph's outputs: tail ops plus the declared ``output_ops`` that exist (toposort order)."""
        declared = set(self.get_declared_outputs())
        return [o for o in self.toposort() if not self._fanouts[o.name] or o.name in declared]

    def get_declared_outputs(self) -> list[str]:
        """The op names the ``output_ops`` attribute declares (whether or not they still exist)."""
        return list(self.get_attr(OUTPUT_OPS_ATTR)) if self.has_attr(OUTPUT_OPS_ATTR) else []

    def declare_outputs(self, names: Iterable[str]) -> None:
        """Declare the graph's output ops (each must exist); an empty list removes the declaration."""
        names = list(dict.fromkeys(names))
        for n in names:
            self.get_op(n)
        if names:
            self.set_attr(OUTPUT_OPS_ATTR, names)
        else:
            self.del_attr(OUTPUT_OPS_ATTR)

    def is_declared_output(self, op: "Op | str") -> bool:
        """Whether ``op`` is a declared output (a transform must keep its value under its name)."""
        return (op if isinstance(op, str) else op.name) in self.get_declared_outputs()

    def get_tensor(self, name: str) -> Tensor:
        for op in self._ops.values():
            if op._output is not None and op._output.name == name:
                return op._output
        raise GraphError(f"graph '{self.name}' has no tensor named '{name}'")

    # -- building ----------------------------------------------------------------------------
    def create_op(self, name: str, kind: str, attrs: dict | None = None,
                  input_ops: dict[str, list[Op]] | None = None, subgraph: Subgraph | None = None,
                  infer: bool = True) -> Op:
        """Create an op of type ``kind``; attributes are typed by its op definition, inputs are
        ``{arg_name: [ops]}``; the output tensor's dims are inferred unless ``infer`` is False."""
        if not name:
            raise GraphError("an op needs a non-empty name")
        if name in self._ops:
            raise GraphError(f"graph '{self.name}' already has an op named '{name}'")
        op = Op(self, name, kind)
        for k, v in (attrs or {}).items():
            op.set_attr(k, v)
        self._ops[name] = op
        self._fanouts[name] = []
        try:
            for arg, ops in (input_ops or {}).items():
                op.set_input_ops(arg, list(ops))
            _check_args(op)
            missing = [a.name for a in op.op_def.attrs if a.required and a.name not in op._attrs]
            if missing:
                raise OpDefError(f"{op._what()} is missing required attribute(s) {missing}")
            if infer:
                op.infer_shape()
        except Exception:
            self._remove(op)
            raise
        self.root._op_names.add(name)
        if subgraph is not None:
            s = subgraph
            while s is not None:
                s._op_names.add(name)
                s = s.parent
        self._dirty()
        return op

    def create_const_op(self, name: str, data: np.ndarray, data_type: str | None = None,
                        kind: str = "const", subgraph: Subgraph | None = None) -> Op:
        """A constant op holding ``data`` (stored little-endian); ``data_type`` may name a fixed type
        such as ``xint8`` for int8 data."""
        data = np.asarray(data)
        dtype = normalize_dtype(data_type) if data_type else dtype_of_numpy(data.dtype)
        arr = np.ascontiguousarray(data, dtype=numpy_dtype(dtype).newbyteorder("<"))
        return self.create_op(name, kind, {"shape": list(data.shape), "data_type": dtype,
                                           "data": arr.tobytes()}, subgraph=subgraph)

    def _remove(self, op: Op) -> None:
        for arg in list(op._inputs):
            for o in op._inputs[arg]:
                if self._fanouts.get(o.name) and op in self._fanouts[o.name]:
                    self._fanouts[o.name].remove(op)
        self._ops.pop(op.name, None)
        self._fanouts.pop(op.name, None)
        for s in self.root.walk():
            s._op_names.discard(op.name)
        self._dirty()

    def remove_op(self, op: Op | str) -> None:
        """Remove an op that no other op reads."""
        op = self.get_op(op) if isinstance(op, str) else op
        users = self._fanouts.get(op.name, [])
        if users:
            raise GraphError(f"cannot remove op '{op.name}': ops {[u.name for u in users][:5]} still read it")
        self._remove(op)

    def rename_op(self, op: Op | str, new_name: str) -> Op:
        """Give an op (and its output tensor, if it carried the op's name) a new unique name."""
        op = self.get_op(op) if isinstance(op, str) else op
        if new_name in self._ops:
            raise GraphError(f"graph '{self.name}' already has an op named '{new_name}'")
        old = op.name
        self._ops = {(new_name if k == old else k): v for k, v in self._ops.items()}
        self._fanouts[new_name] = self._fanouts.pop(old)
        for s in self.root.walk():
            if old in s._op_names:
                s._op_names.discard(old)
                s._op_names.add(new_name)
        op.name = new_name
        if self.is_declared_output(old) and not self.is_declared_output(new_name):
            self.set_attr(OUTPUT_OPS_ATTR, [new_name if n == old else n for n in self.get_declared_outputs()])
        if op._output is not None and op._output.name == old:
            op._output.name = new_name
        self._dirty()
        return op

    def replace_uses(self, old: Op, new: Op) -> None:
        """Make every reader of ``old`` read ``new`` instead."""
        for user in list(dict.fromkeys(self._fanouts[old.name])):
            user.replace_input_op(old, new)

    # -- order and checking -------------------------------------------------------------------
    def toposort(self) -> list[Op]:
        """Ops in a topological order; among ready ops, creation order decides (deterministic)."""
        if self._topo is not None:
            return list(self._topo)
        index = {n: i for i, n in enumerate(self._ops)}
        indeg = {n: len(op.inputs) for n, op in self._ops.items()}
        import heapq
        heap = [index[n] for n, d in indeg.items() if d == 0]
        heapq.heapify(heap)
        names = list(self._ops)
        order = []
        while heap:
            op = self._ops[names[heapq.heappop(heap)]]
            order.append(op)
            for user in self._fanouts[op.name]:
                indeg[user.name] -= 1
                if indeg[user.name] == 0:
                    heapq.heappush(heap, index[user.name])
        if len(order) != len(self._ops):
            stuck = [n for n, d in indeg.items() if d > 0]
            raise GraphError(f"graph '{self.name}' has a cycle through ops {stuck[:5]}")
        self._topo = order
        return list(order)

    def infer_shapes(self) -> None:
        """Re-infer every output tensor in topological order (after edits)."""
        for op in self.toposort():
            op.infer_shape()

    def validate(self) -> None:
        """Check the whole graph; the first problem raises GraphError/OpDefError naming the op."""
        order = self.toposort()
        for op in order:
            _check_args(op)
            for a in op.op_def.attrs:
                if a.required and a.name not in op._attrs:
                    raise OpDefError(f"{op._what()} is missing required attribute '{a.name}'")
                if a.name in op._attrs:
                    op.op_def.check_attr(a.name, op._attrs[a.name][1])
            if op._output is None:
                raise GraphError(f"{op._what()} has no output tensor")
            try:
                dims, dtype = op.op_def.infer(op)
            except ShapeError as e:
                raise OpDefError(f"{op._what()}: {e}") from None
            if list(dims) != op._output.dims:
                raise OpDefError(f"{op._what()}: output dims {op._output.dims} differ from the inferred {list(dims)}")
            if normalize_dtype(dtype) != op._output.dtype:
                raise OpDefError(f"{op._what()}: output data type {op._output.dtype} differs from the inferred {dtype}")
        if self.root._op_names != set(self._ops):
            extra = sorted(self.root._op_names ^ set(self._ops))
            raise GraphError(f"graph '{self.name}': root subgraph does not cover exactly the graph's ops ({extra[:5]})")
        for s in self.root.walk():
            if s.children:
                union: set[str] = set()
                for c in s.children:
                    if union & c._op_names:
                        dup = sorted(union & c._op_names)[:3]
                        raise GraphError(f"subgraph '{s.name}': op(s) {dup} belong to two children")
                    union |= c._op_names
                if union != s._op_names:
                    lost = sorted(s._op_names - union)[:3]
                    raise GraphError(f"subgraph '{s.name}': op(s) {lost} belong to no child subgraph")
                s.toposort_child_subgraph()

    # -- files -------------------------------------------------------------------------------------
    def serialize(self, path) -> None:
        """Write the graph as an .xmodel file (deterministic bytes, atomic replace)."""
        from .xmodel import save_graph
        save_graph(self, path)

    save = serialize

    @staticmethod
    def deserialize(path) -> "Graph":
        """Read an .xmodel file; a bad file raises XModelError naming the file and the problem."""
        from .xmodel import load_graph
        return load_graph(path)

    load = deserialize

    def to_bytes(self) -> bytes:
        from .xmodel import graph_to_bytes
        return graph_to_bytes(self)

    @staticmethod
    def from_bytes(data: bytes, source: str = "<bytes>") -> "Graph":
        from .xmodel import graph_from_bytes
        return graph_from_bytes(data, source)

    def copy(self, name: str | None = None) -> "Graph":
        """An independent deep copy (via the wire form, so it is exactly what a reload gives)."""
        g = Graph.from_bytes(self.to_bytes())
        if name:
            g.name = name
        return g


def _check_args(op: Op) -> None:
    for a in op.op_def.args:
        n = len(op._inputs.get(a.name, []))
        if not a.count_ok(n):
            need = {"REQUIRED": "exactly 1", "OPTIONAL": "at most 1",
                    "REQUIRED_AND_REPEATED": "at least 1"}.get(a.occur, "any number of")
            raise OpDefError(f"{op._what()} needs {need} '{a.name}' input(s), has {n}")
    extra = set(op._inputs) - {a.name for a in op.op_def.args}
    if any(op._inputs[k] for k in extra):
        raise OpDefError(f"{op._what()} has inputs on unknown argument(s) {sorted(extra)}")
