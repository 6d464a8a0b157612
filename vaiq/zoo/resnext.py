"""ResNeXt (Xie et al., 2017): ResNet bottlenecks whose 3x3 conv is split into `groups` parallel paths.

The bottleneck width is planes * width_per_group / 64 * groups (32x4d: 128 at planes 64), the stride
sits on the grouped 3x3 conv and the block ends with an in-place residual add (`out += identity`) and
an in-place ReLU, the way public model libraries write the block (attributes conv1/bn1/...,
`downsample` as an `nn.Sequential`). `tiny_resnext` has 3 groups for 3x32x32 inputs.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import init_params, residual_stages


class GroupedBottleneck(nn.Module):
    """1x1 reduce, grouped 3x3 (strided), 1x1 expand (x4), add the shortcut in place, ReLU."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int, groups: int, width_per_group: int):
        super().__init__()
        width = int(planes * width_per_group / 64) * groups
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class ResNeXt(nn.Module):
    """7x7 stride-2 stem and 3x3 stride-2 max-pool, grouped-bottleneck stages, average pool, fc."""

    def __init__(
        self,
        layers: tuple[int, ...],
        groups: int,
        width_per_group: int,
        num_classes: int = 1000,
        planes: tuple[int, ...] = (64, 128, 256, 512),
        stem_channels: int = 64,
        seed: int = 0,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem_channels, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layers, cin = residual_stages(
            lambda c, p, stride: GroupedBottleneck(c, p, stride, groups, width_per_group),
            stem_channels, planes, layers, GroupedBottleneck.expansion)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.avgpool(self.layers(x))
        return self.fc(torch.flatten(x, 1))


def resnext50_32x4d(num_classes: int = 1000, seed: int = 0) -> ResNeXt:
    """ResNeXt-50 32x4d: stages [3, 4, 6, 3] (25,028,904 parameters with 1000 classes); 3x224x224."""
    return ResNeXt((3, 4, 6, 3), 32, 4, num_classes, seed=seed)


def tiny_resnext(num_classes: int = 10, seed: int = 0) -> ResNeXt:
    """Stem 16, two stages of one grouped bottleneck each (planes 8 and 16, 3 groups of width 2 and 4),
    the second strided; for 3x32x32."""
    return ResNeXt((1, 1), 3, 16, num_classes, planes=(8, 16), stem_channels=16, seed=seed)
