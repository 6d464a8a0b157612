"""The two marker ops QuantStub / DeQuantStub call so torch.export keeps them (an identity module
leaves no node): ``vaiq::quant_stub`` and ``vaiq::dequant_stub``.

Rule: both compute a copy of their input (float identity; gradients pass through unchanged); capture
lowers them to ``quant_stub`` / ``dequant_stub`` marker nodes, which vaiq.regions turns into the
quantized regions and removes, so no marker reaches an exported model.
"""
from __future__ import annotations

import torch

QUANT_STUB = "vaiq::quant_stub"
DEQUANT_STUB = "vaiq::dequant_stub"


def _define(name: str):
    @torch.library.custom_op(name, mutates_args=())
    def op(x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @op.register_fake
    def _(x):
        return torch.empty_like(x)

    op.register_autograd(lambda ctx, grad: grad)
    return op


quant_stub = _define(QUANT_STUB)
dequant_stub = _define(DEQUANT_STUB)

#: the exported op overloads, mapped to the marker node kind capture gives them
MARKERS = {torch.ops.vaiq.quant_stub.default: "quant_stub",
           torch.ops.vaiq.dequant_stub.default: "dequant_stub"}
