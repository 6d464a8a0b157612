"""Nodes without a torch form run through onnx's reference implementation (float, on the CPU).

Rules:
- each output a node's readers use is one call of the custom op ``vaiq_onnx::reference`` (runtime
  inputs, a key): torch.export keeps it as one opaque op, which vaiq reports as a float (CPU) op as it
  reports any aten op without a DPU equivalent;
- the key names a registry entry holding the node, its constant inputs and the output shape seen when
  the model was loaded (the shape torch.export is told); entries live as long as the process;
- an op the reference implementation does not know is an error when the model is loaded.
"""
from __future__ import annotations

import itertools

import numpy as np
import onnx
import torch

from .base import OnnxOp

_REGISTRY: dict[str, "_Entry"] = {}
_IDS = itertools.count()


class _Entry:
    def __init__(self, node: onnx.NodeProto, opsets: dict, consts: dict, runtime: list[str], out: int,
                 shape: tuple, dtype: torch.dtype):
        from onnx.reference import ReferenceEvaluator
        self.evaluator = ReferenceEvaluator(node, opsets=opsets)
        self.output = node.output[out]
        self.consts = consts
        self.runtime = runtime
        self.shape = shape
        self.dtype = dtype

    def run(self, xs) -> torch.Tensor:
        feeds = dict(self.consts)
        feeds.update({n: x.detach().cpu().numpy() for n, x in zip(self.runtime, xs)})
        y = self.evaluator.run([self.output], feeds)[0]
        return torch.from_numpy(np.array(y, copy=True))


@torch.library.custom_op("vaiq_onnx::reference", mutates_args=())
def reference(xs: list[torch.Tensor], key: str) -> torch.Tensor:
    """Output of one ONNX node computed by onnx.reference (see the module rules)."""
    return _REGISTRY[key].run(xs)


@reference.register_fake
def _reference_fake(xs, key):
    e = _REGISTRY[key]
    return torch.empty(e.shape, dtype=e.dtype)


class ReferenceOp(OnnxOp):
    """An ONNX node evaluated by onnx.reference; returns one tensor per ONNX output (None if unread)."""

    def __init__(self, keys: list[str | None], reads: tuple[int, ...]):
        super().__init__()
        self.keys = keys
        self.reads = reads

    def forward(self, *xs):
        outs = tuple(None if k is None else torch.ops.vaiq_onnx.reference(list(xs), k) for k in self.keys)
        return outs[0] if len(outs) == 1 else outs


def reference_op(ctx, opsets: dict) -> ReferenceOp:
    """Register ``ctx``'s node and return its module (the traced outputs decide the fake shapes)."""
    node = ctx.node
    reads = tuple(i for i, name in enumerate(node.input) if name and ctx.const(i) is None)
    consts = {name: ctx.const(i).numpy() for i, name in enumerate(node.input)
              if name and ctx.const(i) is not None}
    runtime = [node.input[i] for i in reads]
    from onnx.reference import ReferenceEvaluator
    feeds = dict(consts)
    feeds.update({node.input[i]: ctx.examples[i].numpy() for i in reads})
    outs = ReferenceEvaluator(node, opsets=opsets).run(None, feeds)
    keys = []
    for j, used in enumerate(ctx.used):
        if not used:
            keys.append(None)
            continue
        key = f"n{next(_IDS)}"
        y = torch.from_numpy(np.array(outs[j], copy=True))
        _REGISTRY[key] = _Entry(node, opsets, consts, runtime, j, tuple(y.shape), y.dtype)
        keys.append(key)
    return ReferenceOp(keys, reads)


def evaluate(node: onnx.NodeProto, opsets: dict, feeds: dict) -> list[np.ndarray]:
    """All outputs of ``node`` on ``feeds`` (constant folding)."""
    from onnx.reference import ReferenceEvaluator
    return ReferenceEvaluator(node, opsets=opsets).run(None, feeds)
