"""Tensor operations as ``nn.Module``s, with pytorch_nndct's names (``functional.Add`` ...).

The original needs them because its tracer quantizes modules, not inline operators. vaiq captures
with ``torch.export``, so ``x + y`` written inline is quantized the same way; these modules exist so
that scripts written for the original run unchanged. Each computes exactly the torch call it names.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Add(nn.Module):
    """``torch.add(input, other, alpha=alpha)``."""

    def forward(self, input, other, alpha=1):  # noqa: A002 (nndct's argument names)
        return torch.add(input, other, alpha=alpha)


class Sub(nn.Module):
    """``torch.sub(input, other, alpha=alpha)``."""

    def forward(self, input, other, alpha=1):  # noqa: A002
        return torch.sub(input, other, alpha=alpha)


class Mul(nn.Module):
    """``torch.mul(input, other)``."""

    def forward(self, input, other):  # noqa: A002
        return torch.mul(input, other)


class Div(nn.Module):
    """``torch.div(input, other)``."""

    def forward(self, input, other):  # noqa: A002
        return torch.div(input, other)


class Cat(nn.Module):
    """``torch.cat(tensors, dim)``."""

    def forward(self, tensors, dim=0):
        return torch.cat(list(tensors), dim)


class Max(nn.Module):
    """``torch.max(input, dim, keepdim)`` (values and indices, as torch returns them)."""

    def forward(self, input, dim, keepdim=False):  # noqa: A002
        return torch.max(input, dim, keepdim)


class Mean(nn.Module):
    """``torch.mean(input, dim, keepdim)``."""

    def forward(self, input, dim, keepdim=False):  # noqa: A002
        return torch.mean(input, dim, keepdim)


class Sum(nn.Module):
    """``torch.sum(input, dim, keepdim)``."""

    def forward(self, input, dim, keepdim=False):  # noqa: A002
        return torch.sum(input, dim, keepdim)


class Clamp(nn.Module):
    """``torch.clamp(input, min, max)``."""

    def forward(self, input, min=None, max=None):  # noqa: A002
        return torch.clamp(input, min, max)


class Pad(nn.Module):
    """``F.pad(input, pad, mode, value)``."""

    def forward(self, input, pad, mode="constant", value=0.0):  # noqa: A002
        return F.pad(input, pad, mode, value)


class Interpolate(nn.Module):
    """``F.interpolate(input, size, scale_factor, mode, align_corners)``."""

    def forward(self, input, size=None, scale_factor=None, mode="nearest", align_corners=None):  # noqa: A002
        return F.interpolate(input, size, scale_factor, mode, align_corners)


__all__ = ["Add", "Sub", "Mul", "Div", "Cat", "Max", "Mean", "Sum", "Clamp", "Pad", "Interpolate"]
