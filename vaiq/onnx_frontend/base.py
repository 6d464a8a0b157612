"""What every ONNX node converter works with.

Rules:
- a converter sees the node through :class:`NodeCtx` (attributes decoded, the constant value of every
  input that is one, the traced example value of every input, which outputs are read) and returns an
  ``nn.Module`` whose ``forward`` takes the node's *runtime* inputs (``module.reads``: input indices, in
  order) and returns one tensor, or a tuple with one entry per ONNX output;
- constant operands become Python numbers when they are single numbers that do not widen the result
  (so vaiq sees ``x + 0.5`` as it sees it in torch), buffers otherwise;
- a node or variant a converter cannot express with torch ops raises :class:`NotConverted`; the node then
  runs through the ONNX reference implementation (float, CPU; :mod:`vaiq.onnx_frontend.fallback`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import onnx
import torch
from torch import nn


class NotConverted(Exception):
    """This node (or this variant of it) has no torch form here; the message says why."""


def decode_attrs(node: onnx.NodeProto) -> dict:
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [s.decode("utf-8", "replace") for s in v]
        out[a.name] = v
    return out


@dataclass
class NodeCtx:
    node: onnx.NodeProto
    opset: int
    consts: list            # per input: torch.Tensor when the input is a constant, else None
    examples: list          # per input: the traced value (None for an absent optional input)
    used: list[bool]        # per output: read by another node or a graph output
    attrs: dict = field(default_factory=dict)

    @property
    def op(self) -> str:
        return self.node.op_type

    def attr(self, name, default=None):
        return self.attrs.get(name, default)

    def has(self, i: int) -> bool:
        return i < len(self.examples) and self.examples[i] is not None

    def const(self, i: int):
        return self.consts[i] if i < len(self.consts) else None

    def need_const(self, i: int, what: str) -> torch.Tensor | None:
        """Input ``i`` as a constant (None when absent); a computed value raises NotConverted."""
        if not self.has(i):
            return None
        c = self.const(i)
        if c is None:
            raise NotConverted(f"{self.op}'s {what} is computed at run time")
        return c

    def ints(self, i: int, what: str) -> list[int] | None:
        c = self.need_const(i, what)
        return None if c is None else [int(v) for v in c.reshape(-1).tolist()]

    def shape(self, i: int) -> tuple[int, ...]:
        return tuple(self.examples[i].shape)

    def rank(self, i: int) -> int:
        return self.examples[i].dim()


class OnnxOp(nn.Module):
    """A node module: ``forward(*runtime inputs)``; ``reads`` lists which node inputs those are."""

    reads: tuple[int, ...] = ()


class Call(OnnxOp):
    """``fn(*args, **kwargs)`` with args mixing runtime inputs, buffers and Python constants."""

    def __init__(self, fn, slots: list, kwargs: dict | None = None, reads=()):
        super().__init__()
        self.fn = fn
        self.slots = []
        self.kwargs = dict(kwargs or {})
        self.reads = tuple(reads)
        for s in slots:
            if s[0] == "buf":
                name = f"c{len(self.slots)}"
                self.register_buffer(name, s[1])
                self.slots.append(("buf", name))
            else:
                self.slots.append(s)

    def forward(self, *xs):
        args = [xs[s[1]] if s[0] == "x" else getattr(self, s[1]) if s[0] == "buf" else s[1] for s in self.slots]
        return self.fn(*args, **self.kwargs)


class Operands:
    """Builds the slots of a :class:`Call` from node inputs (module rule on constants)."""

    def __init__(self, ctx: NodeCtx):
        self.ctx = ctx
        self.reads: list[int] = []

    def x(self, i: int):
        """Input ``i`` at run time."""
        self.reads.append(i)
        return ("x", len(self.reads) - 1)

    def any(self, i: int, scalar_ok: bool = True, rank: int | None = None):
        """Input ``i``: a runtime input, a Python number (a single number of rank <= ``rank``) or a buffer."""
        c = self.ctx.const(i)
        if c is None:
            return self.x(i)
        if scalar_ok and c.numel() == 1 and (rank is None or c.dim() <= rank):
            v = c.reshape(()).item()
            return ("py", float(v) if c.is_floating_point() else int(v))
        return ("buf", c.clone())

    def call(self, fn, slots, **kwargs) -> Call:
        return Call(fn, slots, kwargs, self.reads)


def runtime_rank(ctx: NodeCtx, idx) -> int:
    """The largest rank among the node's non-constant inputs ``idx``."""
    ranks = [ctx.rank(i) for i in idx if ctx.has(i) and ctx.const(i) is None]
    return max(ranks) if ranks else 0
