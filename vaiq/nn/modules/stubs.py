"""``QuantStub`` / ``DeQuantStub``: partial quantization with pytorch_nndct's module names.

Rule (nndct's): when a model holds any stub, only what lies between a QuantStub and the following
DeQuantStub is quantized; without stubs everything is. In float both are identities; they accept a
tensor, or a list / tuple (nested too) of tensors, and return the same structure; anything that is
not a tensor passes through untouched.
"""
from __future__ import annotations

import torch

from ...stub_ops import dequant_stub, quant_stub


def _apply(op, x):
    if isinstance(x, torch.Tensor):
        return op(x) if x.is_floating_point() else x
    if isinstance(x, (list, tuple)):
        out = [_apply(op, e) for e in x]
        return type(x)(*out) if hasattr(x, "_fields") else type(x)(out)
    return x


class QuantStub(torch.nn.Module):
    """Start of a quantized region: its output is quantized (a fix position is placed here)."""

    def __init__(self, qconfig=None):
        super().__init__()

    def forward(self, x):
        return _apply(quant_stub, x)


class DeQuantStub(torch.nn.Module):
    """End of a quantized region: what reads its output runs in float (on the CPU)."""

    def __init__(self, qconfig=None):
        super().__init__()

    def forward(self, x):
        return _apply(dequant_stub, x)
