"""Capture a float torch model with ``torch.export`` and normalise it into a :class:`QGraph`.

Rule: every aten op of the exported program becomes one node of the xir op library (see
:mod:`vaiq.aten_map`); ops without an xir equivalent become ``torch`` nodes that run in float and are
reported as CPU ops (never dropped); a model that does not export raises CaptureError naming the
construct torch.export rejected.
"""
from __future__ import annotations

import operator
import re
import warnings

import torch
import torch.fx

from .aten_map import LOWER, Unsupported
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

    g = QGraph(name or type(model).__name__, [], [], [])
    alias: dict[str, str] = {}   # fx name -> node name carrying the value (for folded/identity ops)
    for fx_node in ep.graph.nodes:
        if fx_node.op == "placeholder":
            if fx_node.name in user_inputs:
                val = fx_node.meta.get("val")
                if not isinstance(val, torch.Tensor):
                    raise CaptureError(f"model input '{fx_node.name}' is not a tensor; "
                                       "vaiq quantizes models whose inputs are tensors")
                g.nodes.append(Node(fx_node.name, "input", shape=tuple(val.shape), quant="own"))
                g.inputs.append(fx_node.name)
                g.input_shapes[fx_node.name] = tuple(val.shape)
                alias[fx_node.name] = fx_node.name
            continue
        if fx_node.op == "output":
            outs = fx_node.args[0]
            flat = list(outs) if isinstance(outs, (tuple, list)) else [outs]
            for o in flat:
                if not isinstance(o, torch.fx.Node):
                    raise CaptureError("the model returns a non-tensor value; return tensors only")
                g.outputs.append(alias[o.name])
            g.output_structure = ep.call_spec.out_spec
            continue
        if fx_node.op != "call_function":
            raise CaptureError(f"unexpected node '{fx_node.name}' ({fx_node.op}) in the exported graph")
        if fx_node.target is operator.getitem:
            src, idx = fx_node.args
            if idx != 0 or src.name not in alias:
                raise CaptureError(f"'{fx_node.name}' takes output {idx} of '{src.name}', "
                                   "which vaiq does not model (only single-output ops are supported)")
            alias[fx_node.name] = alias[src.name]
            continue
        lower = LOWER.get(fx_node.target)
        args = _bind(fx_node) if hasattr(fx_node.target, "_schema") else {}
        val = fx_node.meta.get("val")
        shape = tuple(val.shape) if isinstance(val, torch.Tensor) else ()
        ctx = _Ctx(fx_node, tensors, alias, param_target)
        node = None
        if lower is not None:
            try:
                node = lower(ctx, args)
            except Unsupported as u:
                node = ctx.generic(str(u))
        else:
            node = ctx.generic(f"{_target_name(fx_node.target)} has no DPU/XIR equivalent")
        if node is None:   # identity-like op (dropout in eval, clone, contiguous ...)
            alias[fx_node.name] = ctx.input_name(args.get("input", args.get("self")))
            continue
        node.name = fx_node.name
        node.scope = _scope(fx_node)
        node.module_type = _module_type(fx_node)
        node.shape = shape
        node.source = _target_name(fx_node.target)
        g.nodes.append(node)
        alias[fx_node.name] = node.name
    if not g.inputs:
        raise CaptureError(f"{g.name} has no tensor inputs to quantize")
    return g


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

    def generic(self, reason: str) -> Node:
        """A float node that replays the aten call as it is (a CPU op)."""
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
        return Node("", "torch", ins, {"target": self.fx.target, "args": tmpl, "kwargs": kw},
                    quant="float", reason=reason)
