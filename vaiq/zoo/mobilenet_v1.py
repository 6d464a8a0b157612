"""MobileNetV1 (Howard et al., 2017): a strided 3x3 stem and thirteen depthwise-separable blocks
(depthwise 3x3 + BN + ReLU6, pointwise 1x1 + BN + ReLU6), global average pooling and a classifier.

The width multiplier scales every layer's channels to ``max(int(c * width), 8)``; the published
variants are 1.0 at 224x224, 0.5 at 160x160 and 0.25 at 128x128 (any input size works).
"""

from __future__ import annotations

import torch
from torch import nn

from .common import ConvBNAct, init_params

# (output channels, stride) of the thirteen separable blocks
V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
             (512, 1), (512, 1), (1024, 2), (1024, 1))


def _scaled(c: int, width: float) -> int:
    return max(int(c * width), 8)


class MobileNetV1(nn.Module):
    """Stem conv 3x3 stride 2 (32 channels at width 1), separable blocks, average pool, dropout, fc."""

    def __init__(self, num_classes: int = 1000, width: float = 1.0, dropout: float = 0.001, seed: int = 0):
        super().__init__()
        cin = _scaled(32, width)
        layers: list[nn.Module] = [ConvBNAct(3, cin, 3, 2, act=nn.ReLU6())]
        for c, s in V1_BLOCKS:
            cout = _scaled(c, width)
            layers += [ConvBNAct(cin, cin, 3, s, groups=cin, act=nn.ReLU6()), ConvBNAct(cin, cout, 1, act=nn.ReLU6())]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.avgpool(self.features(x)), 1)))


def mobilenet_v1(num_classes: int = 1000, width: float = 1.0, seed: int = 0) -> MobileNetV1:
    """MobileNetV1 with width multiplier ``width`` (4.23M parameters at 1.0 with 1000 classes)."""
    return MobileNetV1(num_classes, width, seed=seed)
