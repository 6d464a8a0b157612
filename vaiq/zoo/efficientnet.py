"""EfficientNet-B0 (Tan & Le, 2019): MBConv blocks with SiLU, squeeze-and-excitation and stochastic depth.

An MBConv block is a 1x1 expansion (skipped for expansion 1), a depthwise k x k conv, a squeeze-and-
excitation gate (sigmoid; squeeze width a quarter of the block's *input* channels), and a linear 1x1
projection; blocks that keep the shape add their input back after stochastic depth, whose drop rate
grows linearly from 0 to `stochastic_depth` over the blocks. Written in the style of public model
libraries (in-place SiLU, `nn.Sequential` stages). `tiny_efficientnet` keeps every block type for
3x32x32 inputs.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import ConvBNAct, DropPath, SqueezeExcite, init_params

# (expansion, kernel, first stride, input channels, output channels, repeats) of B0.
B0_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)

_BN_EPS = 1e-3


def _silu() -> nn.SiLU:
    return nn.SiLU(inplace=True)


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-and-excitation; residual with stochastic depth."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int, drop: float):
        super().__init__()
        hidden = cin * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBNAct(cin, hidden, 1, act=_silu(), eps=_BN_EPS))
        layers += [
            ConvBNAct(hidden, hidden, kernel, stride, groups=hidden, act=_silu(), eps=_BN_EPS),
            SqueezeExcite(hidden, max(1, cin // 4), _silu(), nn.Sigmoid()),
            ConvBNAct(hidden, cout, 1, eps=_BN_EPS),
        ]
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout
        self.drop_path = DropPath(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_residual:
            out = self.drop_path(out)
            out += x
        return out


class EfficientNet(nn.Module):
    """Stem conv, MBConv stages, 1x1 head conv, global average pool, dropout, fc."""

    def __init__(
        self,
        num_classes: int = 1000,
        stages: tuple[tuple[int, int, int, int, int, int], ...] = B0_STAGES,
        head_channels: int = 1280,
        stochastic_depth: float = 0.2,
        dropout: float = 0.2,
        seed: int = 0,
    ):
        super().__init__()
        stem = stages[0][3]
        layers: list[nn.Module] = [ConvBNAct(3, stem, 3, 2, act=_silu(), eps=_BN_EPS)]
        total = sum(s[5] for s in stages)
        index = 0
        for expansion, kernel, stride, cin, cout, repeats in stages:
            stage = []
            for i in range(repeats):
                drop = stochastic_depth * index / total
                stage.append(MBConv(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1,
                                    expansion, drop))
                index += 1
            layers.append(nn.Sequential(*stage))
        layers.append(ConvBNAct(stages[-1][4], head_channels, 1, act=_silu(), eps=_BN_EPS))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout, inplace=True),
                                        nn.Linear(head_channels, num_classes))
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def efficientnet_b0(num_classes: int = 1000, seed: int = 0) -> EfficientNet:
    """EfficientNet-B0 (5,288,548 parameters with 1000 classes); input 3x224x224."""
    return EfficientNet(num_classes, seed=seed)


def tiny_efficientnet(num_classes: int = 10, seed: int = 0) -> EfficientNet:
    """Stem 12, an expansion-1 block, two 3x3 blocks (strided, then residual), a strided 5x5 block
    and a residual 5x5 block with expansion 3 (squeeze widths 3, 2, 3, 3, 5), head 40; for 3x32x32."""
    stages = (
        (1, 3, 1, 12, 10, 1),
        (6, 3, 2, 10, 14, 2),
        (3, 5, 2, 14, 21, 2),
    )
    return EfficientNet(num_classes, stages=stages, head_channels=40, seed=seed)
