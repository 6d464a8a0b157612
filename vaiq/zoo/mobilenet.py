"""MobileNetV2 (Sandler et al., 2018): inverted residual blocks with depthwise 3x3 convs and ReLU6.

`tiny_mobilenet` keeps two inverted residual blocks and adds a hard-swish head for 3x32x32 inputs.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import ConvBNAct, init_params

# (expansion t, output channels c, repeats n, first stride s) of the published network.
V2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class InvertedResidual(nn.Module):
    """1x1 expand (skipped when t == 1), depthwise 3x3, linear 1x1 project; residual add when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNAct(cin, hidden, 1, act=nn.ReLU6()))
        layers.append(ConvBNAct(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6()))
        layers.append(ConvBNAct(hidden, cout, 1))
        self.body = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.use_residual else y


class MobileNetV2(nn.Module):
    """Stem conv, inverted residual stages, 1x1 head conv, global average pool, dropout, fc."""

    def __init__(
        self,
        num_classes: int = 1000,
        settings: tuple[tuple[int, int, int, int], ...] = V2_SETTINGS,
        stem_channels: int = 32,
        stem_stride: int = 2,
        head_channels: int = 1280,
        head_act: type[nn.Module] = nn.ReLU6,
        dropout: float = 0.2,
        seed: int = 0,
    ):
        super().__init__()
        blocks: list[nn.Module] = [ConvBNAct(3, stem_channels, 3, stem_stride, act=nn.ReLU6())]
        cin = stem_channels
        for t, c, n, s in settings:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        blocks.append(ConvBNAct(cin, head_channels, 1, act=head_act()))
        self.features = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(head_channels, num_classes)
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.fc(self.dropout(x))


def mobilenet_v2(num_classes: int = 1000, seed: int = 0) -> MobileNetV2:
    """MobileNetV2 with width multiplier 1.0 (3.50M parameters with 1000 classes)."""
    return MobileNetV2(num_classes, seed=seed)


def tiny_mobilenet(num_classes: int = 10, seed: int = 0) -> MobileNetV2:
    """Stride-2 stem, a residual and a strided inverted block (t=4), 1x1 head with hard-swish."""
    return MobileNetV2(
        num_classes,
        settings=((4, 16, 1, 1), (4, 24, 1, 2)),
        stem_channels=16,
        head_channels=64,
        head_act=nn.Hardswish,
        dropout=0.1,
        seed=seed,
    )
