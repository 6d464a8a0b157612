"""RegNetX (Radosavovic et al., 2020, "Designing Network Design Spaces"): residual bottlenecks whose
3x3 conv is grouped with a fixed group width, stage widths from a quantized linear rule.

`regnet_widths` turns the design-space parameters (depth d, initial width w0, slope wa, multiplier wm,
group width g) into stage widths and depths: block j gets width w0 + wa*j, snapped to w0*wm^k for the
nearest integer k and rounded to a multiple of 8; runs of equal widths form the stages, and each stage
width is then rounded to a multiple of its group width. RegNetX-400MF is d=22, w0=24, wa=24.48,
wm=2.54, g=16. In-place ReLU, `nn.Sequential` stages. `tiny_regnet` uses group counts 3 and 5.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .common import ConvBNAct, init_params, make_divisible


def regnet_widths(depth: int, w0: float, wa: float, wm: float, group_width: int,
                  quantum: int = 8) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(stage widths, stage depths) of the quantized linear rule (see the module docstring)."""
    if depth < 1 or w0 <= 0 or wa < 0 or wm <= 1 or group_width < 1:
        raise ValueError("regnet_widths: need depth >= 1, w0 > 0, wa >= 0, wm > 1, group_width >= 1")
    widths = []
    for j in range(depth):
        step = round(math.log((w0 + wa * j) / w0) / math.log(wm))
        widths.append(int(round(w0 * wm**step / quantum) * quantum))
    stage_widths: list[int] = []
    stage_depths: list[int] = []
    for w in widths:
        if stage_widths and stage_widths[-1] == w:
            stage_depths[-1] += 1
        else:
            stage_widths.append(w)
            stage_depths.append(1)
    adjusted = [make_divisible(w, min(group_width, w)) for w in stage_widths]
    return tuple(adjusted), tuple(stage_depths)


class ResBottleneckBlock(nn.Module):
    """x -> proj(x) + f(x) -> ReLU; f = 1x1, grouped 3x3 (stride, width // group_width groups), 1x1;
    proj is a strided 1x1 conv + BN when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int, group_width: int):
        super().__init__()
        groups = cout // min(group_width, cout)
        self.proj = ConvBNAct(cin, cout, 1, stride, 0) if (cin != cout or stride != 1) else None
        self.f = nn.Sequential(
            ConvBNAct(cin, cout, 1, act=nn.ReLU(inplace=True)),
            ConvBNAct(cout, cout, 3, stride, groups=groups, act=nn.ReLU(inplace=True)),
            ConvBNAct(cout, cout, 1),
        )
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.proj(x)
        return self.activation(shortcut + self.f(x))


class RegNet(nn.Module):
    """3x3 stride-2 stem, stages of ResBottleneckBlocks (first block strided), average pool, fc."""

    def __init__(
        self,
        widths: tuple[int, ...],
        depths: tuple[int, ...],
        group_width: int,
        num_classes: int = 1000,
        stem_width: int = 32,
        seed: int = 0,
    ):
        super().__init__()
        self.stem = ConvBNAct(3, stem_width, 3, 2, act=nn.ReLU(inplace=True))
        stages = []
        cin = stem_width
        for width, depth in zip(widths, depths):
            if width % min(group_width, width):
                raise ValueError(f"RegNet: width {width} is not a multiple of group width {group_width}")
            blocks = [ResBottleneckBlock(cin if i == 0 else width, width, 2 if i == 0 else 1, group_width)
                      for i in range(depth)]
            stages.append(nn.Sequential(*blocks))
            cin = width
        self.trunk_output = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.trunk_output(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


def regnet_x_400mf(num_classes: int = 1000, seed: int = 0) -> RegNet:
    """RegNetX-400MF (5,495,976 parameters with 1000 classes); input 3x224x224."""
    widths, depths = regnet_widths(22, 24, 24.48, 2.54, 16)
    return RegNet(widths, depths, 16, num_classes, seed=seed)


def tiny_regnet(num_classes: int = 10, seed: int = 0) -> RegNet:
    """Stem 16, stages of width 24 (1 block, 3 groups) and 40 (2 blocks, 5 groups) with group width 8."""
    return RegNet((24, 40), (1, 2), 8, num_classes, stem_width=16, seed=seed)
