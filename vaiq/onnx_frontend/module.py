"""The ONNX graph as a torch ``nn.Module`` (what :func:`vaiq.onnx_frontend.load_onnx` returns).

Rules:
- the module is built by running the graph once, node by node, on seeded example inputs of the fixed
  input shapes: every node whose inputs are all constants (initializers, Constant nodes, and Shape /
  Size of a value whose shape is now known) is folded into a constant with onnx's reference
  implementation, so shape-computing subgraphs vanish and torch.export sees static shapes; every
  other node becomes a submodule (ops_layers, ops_tensor; fallback for the rest) registered under the
  ONNX node's name made an identifier;
- nodes no graph output depends on are dropped;
- ``forward(*inputs)`` takes the graph inputs in order and returns the one output or a tuple;
- ``vaiq_node_names`` tells vaiq's capture how to name the graph it captures: inputs take the ONNX input
  names, and the node a submodule computes takes the ONNX node's name, or the graph output's name
  when the node computes one (vaiq.capture).
"""
from __future__ import annotations

import re

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from ..errors import OnnxModelError
from .base import NodeCtx, NotConverted, decode_attrs
from .fallback import evaluate, reference_op
from .ops_layers import LAYERS, matmul, matmul_bias
from .ops_tensor import TENSOR_OPS
from .reader import GraphInput, opset_of

CONVERTERS = {**LAYERS, **TENSOR_OPS}
NONDETERMINISTIC = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial",
                    "Bernoulli"}
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "float64": torch.float64, "bfloat16": torch.bfloat16}


class OnnxModule(nn.Module):
    """An ONNX graph interpreted with torch ops; see the module rules."""

    def __init__(self, inputs: list[GraphInput], output_names: list[str]):
        super().__init__()
        self.input_names = [i.name for i in inputs]
        self.output_names = list(output_names)
        self.input_shapes = {i.name: tuple(i.shape) for i in inputs}
        self._input_dtypes = {i.name: i.dtype for i in inputs}
        self._steps: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
        self._const_outputs: dict[str, str] = {}
        self.vaiq_node_names = {"inputs": list(self.input_names), "scopes": {}}
        self.reference_nodes: list[str] = []      # ONNX nodes run by onnx.reference (float, CPU)

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise TypeError(f"{type(self).__name__} takes {len(self.input_names)} input(s) "
                            f"({', '.join(self.input_names)}), got {len(inputs)}")
        env = dict(zip(self.input_names, inputs))
        for mod, ins, outs in self._steps:
            y = getattr(self, mod)(*[env[i] for i in ins])
            if len(outs) == 1:
                env[outs[0]] = y
            else:
                for o, v in zip(outs, y):
                    if o:
                        env[o] = v
        res = tuple(env[o] if o in env else getattr(self, self._const_outputs[o]) for o in self.output_names)
        return res[0] if len(res) == 1 else res

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        """Seeded uniform [0, 1) tensors of the fixed input shapes (one per graph input, in order)."""
        g = torch.Generator().manual_seed(0)
        return tuple(torch.rand(self.input_shapes[n], generator=g).to(_DTYPES[self._input_dtypes[n]])
                     for n in self.input_names)


def identifier(name: str, default: str) -> str:
    out = re.sub(r"\W+", "_", name).strip("_")
    if not out:
        out = default
    return out if not out[0].isdigit() else f"n{out}"


class _Builder:
    def __init__(self, proto: onnx.ModelProto, inputs: list[GraphInput], label: str, module: OnnxModule):
        self.proto, self.g, self.label, self.m = proto, proto.graph, label, module
        self.opset = opset_of(proto)
        self.opsets = {imp.domain or "": int(imp.version) for imp in proto.opset_import}
        self.consts: dict[str, torch.Tensor] = {}
        self.values: dict[str, torch.Tensor] = {}
        gen = torch.Generator().manual_seed(0)
        for i in inputs:
            self.values[i.name] = torch.rand(i.shape, generator=gen).to(_DTYPES[i.dtype])
        for t in self.g.initializer:
            self.consts[t.name] = _tensor(numpy_helper.to_array(t))
        if len(self.g.sparse_initializer):
            raise OnnxModelError(f"{label}: the graph has sparse initializers, which vaiq does not read; store them "
                                 "dense (onnx.numpy_helper) and save the model again")
        self.outputs = {o.name for o in self.g.output}
        self.needed = self._live()
        self.readers: dict[str, list[int]] = {}
        for k, n in enumerate(self.g.node):
            if any(o in self.needed for o in n.output):
                for name in n.input:
                    if name:
                        self.readers.setdefault(name, []).append(k)
        self.skip: set[int] = set()
        self.names: set[str] = set()

    def _live(self) -> set[str]:
        need = set(self.outputs)
        for n in reversed(self.g.node):
            if any(o in need for o in n.output):
                need.update(i for i in n.input if i)
        return need

    # ---------------------------------------------------------------------------------------
    def run(self) -> None:
        for k, node in enumerate(self.g.node):
            if k in self.skip or not any(o in self.needed for o in node.output):
                continue
            try:
                self._node(k, node)
            except OnnxModelError:
                raise
            except Exception as e:
                raise OnnxModelError(f"{self.label}: node '{_label(node)}' ({node.op_type}) fails on inputs of "
                                     f"shapes {self._shapes(node)}: {_first_line(e)}") from None
        for o in self.g.output:
            if o.name in self.values:
                continue
            if o.name not in self.consts:
                raise OnnxModelError(f"{self.label}: graph output '{o.name}' is computed by no node")
            attr = self._unique(identifier(f"const_{o.name}", "const"))
            self.m.register_buffer(attr, self.consts[o.name].clone())
            self.m._const_outputs[o.name] = attr

    def _shapes(self, node) -> str:
        return ", ".join("x".join(map(str, self._value(i).shape)) if self._value(i) is not None else "-"
                         for i in node.input) or "none"

    def _value(self, name: str):
        if not name:
            return None
        if name in self.consts:
            return self.consts[name]
        return self.values.get(name)

    def _node(self, k: int, node: onnx.NodeProto) -> None:
        for name in node.input:
            if name and self._value(name) is None:
                raise OnnxModelError(f"{self.label}: node '{_label(node)}' reads '{name}', which no earlier node, "
                                     "input or initializer defines (the graph is not in topological order)")
        attrs = decode_attrs(node)
        if node.domain in ("", "ai.onnx"):
            if node.op_type == "Constant":
                self.consts[node.output[0]] = _constant(attrs)
                return
            if node.op_type in ("Shape", "Size") and self._value(node.input[0]) is not None:
                self.consts[node.output[0]] = _shape_of(node.op_type, attrs, self._value(node.input[0]))
                return
        present = [n for n in node.input if n]
        if present and all(n in self.consts for n in present) and node.op_type not in NONDETERMINISTIC:
            outs = evaluate(node, self.opsets, {n: self.consts[n].numpy() for n in present})
            for name, v in zip(node.output, outs):
                if name:
                    self.consts[name] = _tensor(np.asarray(v))
            return
        ctx = NodeCtx(node, self.opset, [self.consts.get(n) if n else None for n in node.input],
                      [self._value(n) for n in node.input], [bool(o) and o in self.needed for o in node.output],
                      attrs)
        outs = list(node.output)
        module = None
        if node.domain in ("", "ai.onnx"):
            module, outs = self._convert(k, node, ctx, outs)
        if module is None:
            try:
                module = reference_op(ctx, self.opsets)
            except Exception as e:
                raise OnnxModelError(f"{self.label}: node '{_label(node)}' ({_op_label(node)}) has no torch form in "
                                     f"vaiq and onnx.reference cannot run it ({_first_line(e)}); replace the op "
                                     "or quantize the model from its torch source") from None
            self.m.reference_nodes.append(_label(node))
        self._add(node, module, outs, [n for i, n in enumerate(node.input) if i in module.reads])

    def _convert(self, k, node, ctx, outs):
        fn = CONVERTERS.get(node.op_type)
        if fn is None:
            return None, outs
        try:
            if node.op_type == "MatMul":
                fused = self._matmul_add(k, node, ctx)
                if fused is not None:
                    return fused
            return fn(ctx), outs
        except NotConverted:
            return None, outs

    def _matmul_add(self, k, node, ctx):
        """MatMul + Add(constant vector) as one Linear when the Add is the MatMul's only reader."""
        out = node.output[0]
        readers = self.readers.get(out, [])
        if out in self.outputs or len(readers) != 1:
            return None
        add = self.g.node[readers[0]]
        if add.op_type != "Add" or add.domain not in ("", "ai.onnx"):
            return None
        add_ctx = NodeCtx(add, self.opset, [self.consts.get(n) if n else None for n in add.input],
                          [self._value(n) for n in add.input], [True], {})
        bias = matmul_bias(ctx, add_ctx, out)
        if bias is None:
            return None
        self.skip.add(readers[0])
        return matmul(ctx, bias), [add.output[0]]

    def _unique(self, base: str) -> str:
        name, i = base, 1
        while name in self.names or hasattr(self.m, name):
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name

    def _add(self, node, module, outs: list[str], ins: list[str]) -> None:
        attr = self._unique(identifier(node.name or (outs[0] if outs else ""), node.op_type.lower()))
        self.m.add_module(attr, module)
        with torch.no_grad():
            y = module(*[self._value(n) for n in ins])
        ys = (y,) if len(outs) == 1 else tuple(y)
        for name, v in zip(outs, ys):
            if name and v is not None:
                self.values[name] = v
        self.m._steps.append((attr, tuple(ins), tuple(outs)))
        used = [o for o in outs if o and o in self.needed]
        graph_outs = [o for o in used if o in self.outputs]
        self.m.vaiq_node_names["scopes"][attr] = graph_outs[0] if len(used) == 1 and graph_outs \
            else (node.name or (used[0] if used else attr))


def _label(node) -> str:
    return node.name or (node.output[0] if node.output else node.op_type)


def _op_label(node) -> str:
    return f"{node.domain}:{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[0][:300]}" if lines else type(e).__name__


def _tensor(a: np.ndarray) -> torch.Tensor:
    a = np.asarray(a)
    if a.dtype == object or a.dtype.kind in "US":
        raise NotConverted("string tensors")
    return torch.from_numpy(np.array(a, copy=True))


def _constant(attrs: dict) -> torch.Tensor:
    if "value" in attrs:
        return _tensor(numpy_helper.to_array(attrs["value"]))
    if "value_float" in attrs:
        return torch.tensor(attrs["value_float"], dtype=torch.float32)
    if "value_floats" in attrs:
        return torch.tensor(attrs["value_floats"], dtype=torch.float32)
    if "value_int" in attrs:
        return torch.tensor(attrs["value_int"], dtype=torch.int64)
    if "value_ints" in attrs:
        return torch.tensor(attrs["value_ints"], dtype=torch.int64)
    if "sparse_value" in attrs:
        return _tensor(numpy_helper.to_array(attrs["sparse_value"]))
    raise NotConverted("a Constant without a numeric value")


def _shape_of(op: str, attrs: dict, x: torch.Tensor) -> torch.Tensor:
    if op == "Size":
        return torch.tensor(x.numel(), dtype=torch.int64)
    shape = list(x.shape)
    r = len(shape)
    start, end = attrs.get("start", 0), attrs.get("end", r)
    start = min(max(start + r if start < 0 else start, 0), r)
    end = min(max(end + r if end < 0 else end, 0), r)
    return torch.tensor(shape[start:end], dtype=torch.int64)


def build_module(proto: onnx.ModelProto, inputs: list[GraphInput], label: str, class_name: str) -> OnnxModule:
    """The eval-mode module of a checked model with fixed input shapes."""
    cls = type(class_name, (OnnxModule,), {"__module__": __name__,
                                             "__doc__": f"The ONNX graph {proto.graph.name!r} as a torch module."})
    m = cls(inputs, [o.name for o in proto.graph.output])
    _Builder(proto, inputs, label, m).run()
    return m.eval()
