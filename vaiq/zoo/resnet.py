"""ResNet (He et al., 2015): BasicBlock / Bottleneck residual stages after a 7x7 conv and max-pool stem.

The Bottleneck puts its stride on the 3x3 conv (the common "v1.5" layout). `tiny_resnet` is a two-block
variant for 3x32x32 inputs used by fast tests.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import ConvBNAct, init_params, residual_stages


def _downsample(cin: int, cout: int, stride: int) -> nn.Module | None:
    """1x1 conv + BN projection on the shortcut when the shape changes, else None (identity)."""
    if stride == 1 and cin == cout:
        return None
    return ConvBNAct(cin, cout, 1, stride, 0)


class BasicBlock(nn.Module):
    """3x3 conv-BN-ReLU, 3x3 conv-BN, add the shortcut, ReLU."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = ConvBNAct(cin, planes, 3, stride, act=nn.ReLU())
        self.conv2 = ConvBNAct(planes, cout, 3, 1)
        self.downsample = _downsample(cin, cout, stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand (x4), add the shortcut, ReLU."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = ConvBNAct(cin, planes, 1, 1, act=nn.ReLU())
        self.conv2 = ConvBNAct(planes, planes, 3, stride, act=nn.ReLU())
        self.conv3 = ConvBNAct(planes, cout, 1, 1)
        self.downsample = _downsample(cin, cout, stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + identity)


class ResNet(nn.Module):
    """Stem, residual stages of `block` with `layers[i]` blocks each, global average pool, fc.

    `widths` are the planes of each stage (64, 128, 256, 512 in the published nets); `stem` is
    "imagenet" (7x7 stride-2 conv + 3x3 stride-2 max-pool) or "small" (3x3 conv + 3x3 stride-2 max-pool).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        stem: str = "imagenet",
        seed: int = 0,
    ):
        super().__init__()
        first = widths[0]
        if stem == "imagenet":
            self.stem = ConvBNAct(3, first, 7, 2, 3, act=nn.ReLU())
        else:
            self.stem = ConvBNAct(3, first, 3, 1, act=nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layers, cin = residual_stages(block, first, widths, layers, block.expansion)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.maxpool(self.stem(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 1000, seed: int = 0) -> ResNet:
    """ResNet-18: BasicBlock stages [2, 2, 2, 2] (11.69M parameters with 1000 classes)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, seed=seed)


def resnet50(num_classes: int = 1000, seed: int = 0) -> ResNet:
    """ResNet-50: Bottleneck stages [3, 4, 6, 3] (25.56M parameters with 1000 classes)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, seed=seed)


def tiny_resnet(num_classes: int = 10, seed: int = 0) -> ResNet:
    """Two BasicBlocks (16 then 32 channels, the second strided with a projection) for 3x32x32."""
    return ResNet(BasicBlock, [1, 1], num_classes, widths=(16, 32), stem="small", seed=seed)
