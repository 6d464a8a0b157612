"""MnasNet-A1 without squeeze-excite, depth multiplier 1.0 (Tan et al., 2019; the "MNASNet 1.0" layout
of public model libraries).

Stem: 3x3 stride-2 conv, a depthwise 3x3 separable conv and a linear 1x1 to 16 channels; then six
stacks of inverted residuals (1x1 expand, depthwise k x k, linear 1x1; residual when the shape is
kept) and a 1x1 conv to 1280 channels; a `mean` over H and W, dropout and fc. In-place ReLU.
`tiny_mnasnet` keeps the same layout with a smaller stack list for 3x32x32 inputs.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import ConvBNAct, init_params

# (output channels, kernel, first stride, expansion, repeats) of the six stacks at depth 1.0.
A1_STACKS = (
    (24, 3, 2, 3, 3),
    (40, 5, 2, 3, 3),
    (80, 5, 2, 6, 3),
    (96, 3, 1, 6, 2),
    (192, 5, 2, 6, 4),
    (320, 3, 1, 6, 1),
)


def _relu() -> nn.ReLU:
    return nn.ReLU(inplace=True)


class MnasBlock(nn.Module):
    """Inverted residual: 1x1 expand + ReLU, depthwise k x k + ReLU, linear 1x1; residual if shapes match."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int):
        super().__init__()
        mid = cin * expansion
        self.use_residual = stride == 1 and cin == cout
        self.layers = nn.Sequential(
            ConvBNAct(cin, mid, 1, act=_relu()),
            ConvBNAct(mid, mid, kernel, stride, groups=mid, act=_relu()),
            ConvBNAct(mid, cout, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return self.layers(x) + x
        return self.layers(x)


class MNASNet(nn.Module):
    """Stem (conv, separable conv to `stem_out`), inverted-residual stacks, 1x1 head conv, mean, fc."""

    def __init__(
        self,
        num_classes: int = 1000,
        stem: tuple[int, int] = (32, 16),
        stacks: tuple[tuple[int, int, int, int, int], ...] = A1_STACKS,
        head_channels: int = 1280,
        dropout: float = 0.2,
        seed: int = 0,
    ):
        super().__init__()
        first, cin = stem
        layers: list[nn.Module] = [
            ConvBNAct(3, first, 3, 2, act=_relu()),
            ConvBNAct(first, first, 3, 1, groups=first, act=_relu()),
            ConvBNAct(first, cin, 1),
        ]
        for cout, kernel, stride, expansion, repeats in stacks:
            stack = [MnasBlock(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expansion)
                     for i in range(repeats)]
            layers.append(nn.Sequential(*stack))
            cin = cout
        layers.append(ConvBNAct(cin, head_channels, 1, act=_relu()))
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout, inplace=True), nn.Linear(head_channels, num_classes))
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.layers(x).mean([2, 3]))


def mnasnet1_0(num_classes: int = 1000, seed: int = 0) -> MNASNet:
    """MNASNet 1.0 (4,383,312 parameters with 1000 classes); input 3x224x224."""
    return MNASNet(num_classes, seed=seed)


def tiny_mnasnet(num_classes: int = 10, seed: int = 0) -> MNASNet:
    """Stem 9 -> 7 channels, a strided 3x3 stack (expansion 3) with a residual block, a strided 5x5
    stack (expansion 6) and a residual 3x3 block, head 48; for 3x32x32."""
    stacks = ((11, 3, 2, 3, 2), (19, 5, 2, 6, 1), (19, 3, 1, 6, 1))
    return MNASNet(num_classes, stem=(9, 7), stacks=stacks, head_channels=48, seed=seed)
