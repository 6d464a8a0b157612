"""Trained quantization thresholds (TQT: Jain et al., "Trained Quantization Thresholds", MLSys 2020).

Rule: a quantized tensor has a trainable ``log2_t``; the forward pass quantizes with the power-of-two
scale ``s = 2^ceil(log2_t) / 2^(b-1)`` (round with the tensor's rounding mode, clamp to the signed
b-bit range), so its fix position is ``b - 1 - ceil(log2_t)``. Gradients: straight-through for the
tensor where the rounded value is inside the range, zero outside; for ``log2_t``
``s * ln2 * (round(x/s) - x/s)`` inside and ``s * ln2 * clamp_bound`` outside, summed over the tensor.
"""
from __future__ import annotations

import math

import torch

from ..calib import qbounds, round_t


def fix_pos(log2_t: torch.Tensor | float, bits: int) -> int:
    """The fix position a threshold stands for."""
    value = float(log2_t.detach()) if isinstance(log2_t, torch.Tensor) else float(log2_t)
    return int(bits - 1 - math.ceil(value))


def log2_threshold(pos: int, bits: int) -> float:
    """The threshold (log2) whose fix position is ``pos``: the inverse of :func:`fix_pos`."""
    return float(bits - 1 - pos)


class _TQT(torch.autograd.Function):
    """One autograd node per quantized tensor. It keeps the input, the output and the in-range mask;
    with ``out = s * q`` and ``x = s * v`` the threshold gradient ``s * ln2 * sum(g * (inside ? r - v : q))``
    is ``ln2 * (sum(g * out) - sum(g * inside * x))``: two dot products, no temporaries of the backward."""

    @staticmethod
    def forward(ctx, x, log2_t, bits: int, mode: str):
        lo, hi = qbounds(bits)
        e = math.ceil(float(log2_t.detach())) - (bits - 1)
        r = round_t(x * 2.0 ** -e, mode)
        q = torch.clamp(r, lo, hi)
        inside = q == r
        out = q.mul_(2.0 ** e)
        ctx.save_for_backward(x, out, inside)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out, inside = ctx.saved_tensors
        gx = torch.where(inside, g, 0.0)
        gt = None
        if ctx.needs_input_grad[1]:
            flat = lambda t: t.reshape(-1)  # noqa: E731
            gt = (torch.dot(flat(g), flat(out)) - torch.dot(flat(gx), flat(x))) * math.log(2.0)
            gt = gt.to(torch.float32)
        return gx if ctx.needs_input_grad[0] else None, gt, None, None


def tqt_quantize(x: torch.Tensor, log2_t: torch.Tensor, bits: int, mode: str = "DPU_ROUND") -> torch.Tensor:
    """Fake-quantize ``x`` with the trainable threshold ``log2_t`` (a 0-dim tensor)."""
    return _TQT.apply(x, log2_t, int(bits), mode)
