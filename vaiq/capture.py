"""Capture a float torch model with ``torch.export`` and normalise it into a :class:`QGraph`.

Rules:
- every aten op of the exported program becomes nodes of the xir op library (see
  :mod:`vaiq.aten_map`); ops without an xir equivalent become ``torch`` nodes that run in float and
  are reported as CPU ops (never dropped); a model that does not export raises CaptureError naming
  the construct torch.export rejected;
- an in-place op's result replaces the tensor it mutated for every later reader; mutating a view of
  a tensor that is read again afterwards is refused (vaiq does not model aliasing);
- each used output of a multi-output op (split, chunk, unbind, max.dim) is its own node; unused
  outputs make none;
- an op whose tensor arguments are all parameters (``t`` of a weight, ...) is folded into a constant;
- graph inputs take the names of ``forward``'s parameters; only the model's own outputs are outputs
  (not the inputs torch.export reports as mutated);
- a model may name its graph through a ``vaiq_node_names`` attribute (the ONNX frontend's modules do):
  ``{"inputs": [name per input], "scopes": {submodule path: name}}``; the node a submodule's value
  leaves by (read outside it or a graph output) takes the submodule's name (several: ``name_0``,
  ``name_1``, ...), its other nodes (its children's too) ``name_<aten node>``.
"""
from __future__ import annotations

import inspect
import operator
import re
import warnings

import torch
import torch.fx

from .aten_map import Unsupported, lowering, out_of_place_twin, packet_name
from .errors import CaptureError
from .ir import Node, QGraph


def _bind(fx_node: torch.fx.Node) -> dict:
    """Arguments of an aten call by schema name, defaults filled in."""
    schema = fx_node.target._schema
    out = {}
    for i, a in enumerate(schema.arguments):
        if i < len(fx_node.args):
            out[a.name] = fx_node.args[i]
        elif a.name in fx_node.kwargs:
            out[a.name] = fx_node.kwargs[a.name]
        elif a.has_default_value():
            out[a.name] = a.default_value
        else:
            out[a.name] = None
    return out


def _scope(fx_node: torch.fx.Node) -> str:
    stack = fx_node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return re.sub(r"^L\['self'\]\.?", "", str(path)).replace("._modules['", ".").replace("']", "")


def _explain(e: Exception) -> str:
    msg = str(e).strip().splitlines()
    first = next((ln for ln in msg if ln.strip()), type(e).__name__)
    return f"{type(e).__name__}: {first[:300]}"


def export_program(model: torch.nn.Module, args: tuple, kwargs: dict | None = None):
    """torch.export the model (eval mode, no grad); a failure names what torch.export rejected."""
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.export.export(model, tuple(args), kwargs=kwargs or {}, strict=False)
    except Exception as e:  # torch raises many exception types here
        raise CaptureError(
            f"torch.export could not capture {type(model).__name__}: {_explain(e)}. "
            "Remove data-dependent Python control flow or in-place ops on inputs from forward(), "
            "or quantize a submodule that exports") from None


def _forward_names(model: torch.nn.Module, n: int) -> list[str] | None:
    """Names of forward's first ``n`` positional parameters, or None when it takes ``*args``."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return None
    pos = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [p.name for p in pos[:n]] if len(pos) >= n else None


def _mutates_self(target) -> bool:
    schema = getattr(target, "_schema", None)
    if schema is None or not schema.arguments:
        return False
    info = schema.arguments[0].alias_info
    return bool(info is not None and info.is_write)


def _foldable(fx_node: torch.fx.Node, tensors: dict) -> bool:
    """A deterministic aten call whose tensor arguments are all parameters or constants."""
    t = fx_node.target
    if not isinstance(t, torch._ops.OpOverload) or torch.Tag.nondeterministic_seeded in t.tags:
        return False
    ins = [a for a in fx_node.all_input_nodes]
    return bool(ins) and all(a.name in tensors for a in ins) and isinstance(fx_node.meta.get("val"), torch.Tensor)


def _fold(fx_node: torch.fx.Node, tensors: dict) -> torch.Tensor:
    def sub(a):
        if isinstance(a, torch.fx.Node):
            return tensors[a.name]
        if isinstance(a, (list, tuple)):
            return type(a)(sub(x) for x in a)
        return a
    with torch.no_grad():
        return fx_node.target(*sub(fx_node.args), **{k: sub(v) for k, v in fx_node.kwargs.items()}).detach()


_VIEW_OPS = {"view", "_unsafe_view", "reshape", "transpose", "permute", "t", "slice", "select", "squeeze",
             "unsqueeze", "flatten", "expand", "alias", "detach", "as_strided", "narrow", "unflatten"}
_MULTI_VIEW_OPS = {"split", "split_with_sizes", "chunk", "unbind"}


def _view_base(fx_node: torch.fx.Node, bases: dict) -> str | None:
    """The tensor a view-producing node aliases (followed to its root), else None."""
    src = fx_node.args[0] if fx_node.args and isinstance(fx_node.args[0], torch.fx.Node) else None
    if src is None:
        return None
    if fx_node.target is operator.getitem:
        if packet_name(src.target) not in _MULTI_VIEW_OPS:
            return None
    elif packet_name(fx_node.target) not in _VIEW_OPS | _MULTI_VIEW_OPS:
        return None
    return bases.get(src.name, src.name)


def capture(model: torch.nn.Module, args: tuple, kwargs: dict | None = None,
            name: str | None = None) -> QGraph:
    """Export ``model`` on example ``args`` and build the quantizer graph."""
    ep = export_program(model, args, kwargs)
    sig = ep.graph_signature
    tensors: dict[str, torch.Tensor] = {}
    for spec in sig.input_specs:
        kind = spec.kind.name
        if kind in ("PARAMETER", "BUFFER"):
            tensors[spec.arg.name] = (ep.state_dict[spec.target] if spec.target in ep.state_dict
                                      else ep.constants[spec.target]).detach()
        elif kind in ("CONSTANT_TENSOR",):
            tensors[spec.arg.name] = ep.constants[spec.target].detach()
    param_target = {spec.arg.name: spec.target for spec in sig.input_specs
                    if spec.kind.name in ("PARAMETER", "BUFFER", "CONSTANT_TENSOR")}
    user_inputs = [spec.arg.name for spec in sig.input_specs if spec.kind.name == "USER_INPUT"]
    user_outputs = [spec.kind.name == "USER_OUTPUT" for spec in sig.output_specs]
    fx_names = {n.name for n in ep.graph.nodes}
    fwd = _forward_names(model, len(user_inputs)) if not kwargs else None
    input_name = {fx: fx for fx in user_inputs}
    if fwd is not None and not (set(fwd) - set(user_inputs)) & fx_names and len(set(fwd)) == len(fwd):
        input_name = dict(zip(user_inputs, fwd))

    g = QGraph(name or type(model).__name__, [], [], [])
    alias: dict[str, str] = {}   # fx name -> node name carrying the value (for folded/identity ops)
    multi: dict[str, tuple] = {}  # fx name of a multi-output op -> (lowering, bound args)
    bases: dict[str, str] = {}    # fx name of a view -> fx name of the tensor it aliases
    order = {n.name: i for i, n in enumerate(ep.graph.nodes)}
    for fx_node in ep.graph.nodes:
        if fx_node.op == "placeholder":
            if fx_node.name in user_inputs:
                val = fx_node.meta.get("val")
                if not isinstance(val, torch.Tensor):
                    raise CaptureError(f"model input '{fx_node.name}' is not a tensor; "
                                       "vaiq quantizes models whose inputs are tensors")
                nm = input_name[fx_node.name]
                g.nodes.append(Node(nm, "input", shape=tuple(val.shape), quant="own"))
                g.inputs.append(nm)
                g.input_shapes[nm] = tuple(val.shape)
                alias[fx_node.name] = nm
            continue
        if fx_node.op == "output":
            outs = fx_node.args[0]
            flat = list(outs) if isinstance(outs, (tuple, list)) else [outs]
            if len(user_outputs) == len(flat):
                flat = [o for o, mine in zip(flat, user_outputs) if mine]
            for o in flat:
                if not isinstance(o, torch.fx.Node):
                    raise CaptureError("the model returns a non-tensor value; return tensors only")
                if o.name not in alias:
                    raise CaptureError(f"the model returns '{o.name}', a value vaiq cannot follow "
                                       "(a parameter or an unmodelled output); return computed tensors")
                g.outputs.append(alias[o.name])
            g.output_structure = ep.call_spec.out_spec
            continue
        if fx_node.op != "call_function":
            raise CaptureError(f"unexpected node '{fx_node.name}' ({fx_node.op}) in the exported graph")
        base = _view_base(fx_node, bases)
        if base is not None:
            bases[fx_node.name] = base
        if fx_node.target is operator.getitem:
            _getitem(g, fx_node, alias, multi, tensors, param_target)
            continue
        if _foldable(fx_node, tensors):
            tensors[fx_node.name] = _fold(fx_node, tensors)
            src = next(a for a in fx_node.all_input_nodes)
            param_target[fx_node.name] = param_target.get(src.name, src.name)
            continue
        found = lowering(fx_node.target)
        args = _bind(fx_node) if hasattr(fx_node.target, "_schema") else {}
        ctx = _Ctx(fx_node, tensors, alias, param_target)
        if found is not None and found[0] == "multi":
            multi[fx_node.name] = (found[1], args)
            continue
        nodes = None
        if found is not None:
            try:
                nodes = found[1](ctx, args)
            except Unsupported as u:
                nodes = ctx.generic(str(u))
        else:
            nodes = ctx.generic(f"{_target_name(fx_node.target)} has no DPU/XIR equivalent")
        if nodes is None:   # identity-like op (dropout in eval, clone, contiguous ...)
            alias[fx_node.name] = ctx.input_name(args.get("input", args.get("self")))
        else:
            _add(g, fx_node, fx_node, nodes, alias)
        if _mutates_self(fx_node.target) and fx_node.args and isinstance(fx_node.args[0], torch.fx.Node):
            _rebind_mutated(fx_node, fx_node.args[0], alias, bases, order)
    if not g.inputs:
        raise CaptureError(f"{g.name} has no tensor inputs to quantize")
    names = getattr(model, "vaiq_node_names", None)
    if isinstance(names, dict):
        _rename(g, names)
    return g


def _rename(g: QGraph, names: dict) -> None:
    """Apply a model's ``vaiq_node_names`` (module rule); names stay unique."""
    new: dict[str, str] = {}
    if len(names.get("inputs", ())) == len(g.inputs):
        new.update(zip(g.inputs, names["inputs"]))
    scopes = names.get("scopes", {})
    groups: dict[str, list[Node]] = {}
    for n in g.nodes:
        key = n.scope
        while key and key not in scopes:      # a node inside a named submodule's children
            key = key.rpartition(".")[0]
        if n.kind != "input" and key in scopes:
            groups.setdefault(key, []).append(n)
    users = g.users()
    outputs = set(g.outputs)
    for scope, nodes in groups.items():
        mine = {n.name for n in nodes}
        exits = [n for n in nodes if n.name in outputs or any(u.name not in mine for u in users[n.name])]
        base = scopes[scope]
        for i, n in enumerate(exits):
            new[n.name] = base if len(exits) == 1 else f"{base}_{i}"
        for n in nodes:
            new.setdefault(n.name, f"{base}_{n.name}")
    taken = {n.name for n in g.nodes if n.name not in new}
    final: dict[str, str] = {}
    for n in g.nodes:
        if n.name not in new:
            continue
        want, k = new[n.name], 1
        while want in taken:
            want, k = f"{new[n.name]}_{k}", k + 1
        taken.add(want)
        final[n.name] = want
    for n in g.nodes:
        n.name = final.get(n.name, n.name)
        n.inputs = [final.get(i, i) for i in n.inputs]
    g.inputs = [final.get(i, i) for i in g.inputs]
    g.outputs = [final.get(o, o) for o in g.outputs]
    g.input_shapes = {final.get(k, k): v for k, v in g.input_shapes.items()}


def _add(g: QGraph, fx_node, src_node, nodes, alias) -> None:
    """Append a lowering's node(s); the last carries ``fx_node``'s value under its name."""
    chain = nodes if isinstance(nodes, list) else [nodes]
    val = fx_node.meta.get("val")
    shape = tuple(val.shape) if isinstance(val, torch.Tensor) else ()
    chain[-1].name = fx_node.name
    for node in chain:
        node.scope = _scope(src_node)
        node.module_type = _module_type(src_node)
        if node is chain[-1] or not node.shape:   # a chain's inner nodes keep a shape their lowering set
            node.shape = shape
        node.source = _target_name(src_node.target)
        g.nodes.append(node)
    alias[fx_node.name] = fx_node.name


def _getitem(g, fx_node, alias, multi, tensors, param_target) -> None:
    """``operator.getitem`` on an op with several outputs: each used output becomes its own node."""
    src, idx = fx_node.args
    if not fx_node.users:     # an output nobody reads makes no node
        return
    if src.name in multi:
        fn, args = multi[src.name]
        ctx = _Ctx(fx_node, tensors, alias, param_target)
        try:
            nodes = fn(ctx, args, idx)
        except Unsupported as u:
            nodes = _Ctx(src, tensors, alias, param_target).generic(str(u), index=idx)
        if nodes is None:
            alias[fx_node.name] = ctx.input_name(args.get("input", args.get("self")))
        else:
            _add(g, fx_node, src, nodes, alias)
        return
    if src.name in alias and idx == 0:
        alias[fx_node.name] = alias[src.name]
        return
    raise CaptureError(f"'{fx_node.name}' takes output {idx} of '{src.name}', which vaiq does not model "
                       f"({_target_name(src.target)}: only its first output is a value vaiq follows)")


def _rebind_mutated(fx_node, target, alias, bases, order) -> None:
    """After ``x.op_()`` every later reader of ``x`` reads the op's result. When ``x`` is a view of
    another tensor that is read after this op, that reader would see the mutation too: refused."""
    alias[target.name] = alias[fx_node.name]
    root = bases.get(target.name)
    if root is None:
        return
    here = order[fx_node.name]
    for name, b in list(bases.items()) + [(root, root)]:
        if (b == root or name == root) and name != target.name:
            for user in _users_by_name(fx_node.graph, name):
                if order[user.name] > here and user is not fx_node and (user.users or user.op == "output"):
                    raise CaptureError(
                        f"'{fx_node.name}' ({_target_name(fx_node.target)}) changes '{target.name}' in place, "
                        f"a view of '{root}' that '{user.name}' reads afterwards; vaiq does not model "
                        "aliasing: use the out-of-place op (e.g. x = x + y instead of x += y)")


def _users_by_name(graph, name):
    node = next((n for n in graph.nodes if n.name == name), None)
    return list(node.users) if node is not None else []


def _module_type(fx_node: torch.fx.Node) -> str:
    stack = fx_node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    t = list(stack.values())[-1][1]
    return getattr(t, "__name__", str(t).rsplit(".", 1)[-1].strip("'>"))


def _target_name(t) -> str:
    return str(getattr(t, "__name__", t)).replace("torch.ops.", "")


class _Ctx:
    """What a lowering function sees: the fx node, parameters by placeholder, and value aliases."""

    def __init__(self, fx_node, tensors, alias, param_target):
        self.fx = fx_node
        self.tensors = tensors
        self.alias = alias
        self.param_target = param_target

    def is_param(self, a) -> bool:
        return isinstance(a, torch.fx.Node) and a.name in self.tensors

    def param(self, a) -> torch.Tensor | None:
        if a is None:
            return None
        if not self.is_param(a):
            raise Unsupported(f"'{self.fx.name}' takes a computed tensor where a parameter is expected")
        return self.tensors[a.name].float()

    def param_name(self, a) -> str:
        return self.param_target.get(a.name, a.name) if a is not None else ""

    def input_name(self, a) -> str:
        if not isinstance(a, torch.fx.Node) or a.name not in self.alias:
            raise Unsupported(f"'{self.fx.name}' reads a value vaiq cannot follow")
        return self.alias[a.name]

    def generic(self, reason: str, index: int | None = None) -> Node:
        """A float node that replays the aten call as it is (a CPU op); ``index`` picks one output of
        an op with several."""
        ins, tmpl = [], []

        def conv(a):
            if isinstance(a, torch.fx.Node):
                if a.name in self.tensors:
                    return ("param", self.tensors[a.name])
                ins.append(self.input_name(a))
                return ("input", len(ins) - 1)
            if isinstance(a, (list, tuple)):
                return ("seq", type(a).__name__, [conv(x) for x in a])
            return ("const", a)
        tmpl = [conv(a) for a in self.fx.args]
        kw = {k: conv(v) for k, v in self.fx.kwargs.items()}
        # an in-place op replays as its out-of-place twin: the value it read belongs to another node
        target = (out_of_place_twin(self.fx.target) if _mutates_self(self.fx.target) else None) or self.fx.target
        attrs = {"target": target, "args": tmpl, "kwargs": kw}
        if index is not None:
            attrs["index"] = index
        return Node("", "torch", ins, attrs, quant="float", reason=reason)
