"""Fix-position calibration (DPU_FACTS §2).

Rules:
- overflow-safe start: ``step = max(xmin / (-2^(bw-1) - 0.5), xmax / (2^(bw-1) - 0.5))``,
  ``pos0 = floor(log2(1 / step))`` (an all-zero tensor takes the cap);
- ``diffs``: try pos0 .. pos0+4, fake-quantize with each, keep the smallest squared error (a tie keeps
  the lower position); ``maxmin``: pos0 alone; graph inputs always use pos0;
- positions are capped at ``max_fix_pos(bw)`` (12 for 8 bits and below, bw + 4 above);
- activations: each batch votes for a position, the statistical mode wins (a tie keeps the lower,
  i.e. the overflow-safer, position); ``maxmin`` keeps the running min/max over all batches;
- weights and biases are computed once, with STD_ROUND (nndct's default for parameters);
  activations round with DPU_ROUND;
- speed: for an activation of more than SAMPLE elements the squared errors are summed over a strided
  sample of SAMPLE elements, scaled to the full count, plus the exact errors of the tensor's min and
  max (which decide clipping); pos0 always comes from the exact min/max. Smaller tensors and all
  parameters use every element.
"""
from __future__ import annotations

import math
from collections import Counter

import torch

DIFFS_CANDIDATES = 5
METHODS = ("diffs", "maxmin")
SAMPLE = 16384


def max_fix_pos(bw: int) -> int:
    return 12 if bw <= 8 else bw + 4


def qbounds(bw: int) -> tuple[int, int]:
    return -(2 ** (bw - 1)), 2 ** (bw - 1) - 1


def round_t(x: torch.Tensor, mode: str) -> torch.Tensor:
    """The xir rounding modes on torch tensors (exact for float64 inputs)."""
    if mode == "DPU_ROUND":
        return torch.floor(x + 0.5)
    if mode == "STD_ROUND":
        return torch.sign(x) * torch.floor(torch.abs(x) + 0.5)
    if mode == "PY3_ROUND":
        return torch.round(x)
    raise ValueError(f"unknown round mode {mode!r}")


def fake_quant(x: torch.Tensor, fp: int, bw: int = 8, mode: str = "DPU_ROUND") -> torch.Tensor:
    """q * 2^-fp with q = clamp(round(x * 2^fp)); exact in float64."""
    lo, hi = qbounds(bw)
    s = 2.0 ** fp
    return torch.clamp(round_t(x * s, mode), lo, hi) / s


def overflow_safe_pos(xmin: float, xmax: float, bw: int) -> int:
    step = max(xmin / (-(2 ** (bw - 1)) - 0.5), xmax / (2 ** (bw - 1) - 0.5), 0.0)
    if step <= 0.0 or not math.isfinite(step):
        return max_fix_pos(bw)
    return min(int(math.floor(math.log2(1.0 / step))), max_fix_pos(bw))


def diffs_pos(x: torch.Tensor, bw: int, mode: str, xmin: float | None = None,
              xmax: float | None = None, sample: int | None = None) -> int:
    """The diffs-method position of one tensor (sampled above ``sample`` elements, see above)."""
    x = x.detach().reshape(-1).float()
    if xmin is None:
        xmin, xmax = float(x.min()), float(x.max())
    pos0 = overflow_safe_pos(xmin, xmax, bw)
    cap = max_fix_pos(bw)
    cands = list(range(pos0, min(pos0 + DIFFS_CANDIDATES, cap + 1)))
    weight = 1.0
    extremes = None
    if sample is not None and x.numel() > sample:
        step = x.numel() // sample
        x = x[::step][:sample]
        weight = step
        extremes = torch.tensor([xmin, xmax], dtype=torch.float32)
    scales = torch.tensor([2.0 ** p for p in cands], dtype=torch.float32).unsqueeze(1)
    lo, hi = qbounds(bw)
    errs = ((torch.clamp(round_t(x.unsqueeze(0) * scales, mode), lo, hi) / scales - x) ** 2).sum(1) * weight
    if extremes is not None:
        errs += ((torch.clamp(round_t(extremes.unsqueeze(0) * scales, mode), lo, hi) / scales - extremes) ** 2).sum(1)
    best = int(torch.argmin(errs))  # argmin returns the first minimum: a tie keeps the lower position
    return cands[best]


class NonFiniteActivation(ValueError):
    """A calibration batch produced NaN or an infinity (the quantizer names the node)."""

    def __init__(self, lo: float, hi: float):
        super().__init__(f"values from {lo} to {hi}")


class Observer:
    """Collects one activation's per-batch positions (diffs) or its running min/max (maxmin)."""

    def __init__(self, bw: int, method: str, inputs_only_safe: bool = False):
        self.bw, self.method, self.safe_only = bw, method, inputs_only_safe
        self.votes: Counter = Counter()
        self.xmin, self.xmax = math.inf, -math.inf
        self.batches = 0

    def update(self, x: torch.Tensor) -> None:
        x = x.detach()
        lo, hi = torch.aminmax(x)
        lo, hi = float(lo), float(hi)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise NonFiniteActivation(lo, hi)
        self.xmin, self.xmax = min(self.xmin, lo), max(self.xmax, hi)
        self.batches += 1
        if self.method == "diffs" and not self.safe_only:
            self.votes[diffs_pos(x, self.bw, "DPU_ROUND", lo, hi, sample=SAMPLE)] += 1
        else:
            self.votes[overflow_safe_pos(lo, hi, self.bw)] += 1

    def result(self) -> int | None:
        if not self.batches:
            return None
        if self.method == "maxmin" or self.safe_only and self.method != "diffs":
            return overflow_safe_pos(self.xmin, self.xmax, self.bw)
        top = max(self.votes.values())
        return min(p for p, c in self.votes.items() if c == top)


def param_pos(t: torch.Tensor, bw: int, method: str) -> int:
    """Position of a weight or bias tensor (computed once, STD_ROUND)."""
    t = t.detach().float()
    if method == "maxmin":
        return overflow_safe_pos(float(t.min()), float(t.max()), bw)
    return diffs_pos(t, bw, "STD_ROUND")
