"""Inception v3 (Szegedy et al., 2015) without the auxiliary classifier, and a one-block `tiny_inception`.

Every conv is conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU. Blocks concatenate their branches along
channels; pooling branches use 3x3 average pooling with stride 1 and padding 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import ConvBNAct, init_params


def conv(cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1, padding=None) -> ConvBNAct:
    """Inception's basic unit: conv -> BN(eps=1e-3) -> ReLU; padding defaults to 'same' for stride 1."""
    if padding is None and stride != 1:
        padding = 0
    return ConvBNAct(cin, cout, kernel, stride, padding, act=nn.ReLU(), eps=1e-3)


class PoolBranch(nn.Module):
    """3x3 average pool (stride 1, pad 1) followed by a 1x1 conv unit."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1, 1)
        self.conv = conv(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


class InceptionA(nn.Module):
    """35x35 block: 1x1 | 1x1->5x5 | 1x1->3x3->3x3 | avg-pool->1x1 (64+64+96+pool_features channels)."""

    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.b1 = conv(cin, 64, 1)
        self.b5 = nn.Sequential(conv(cin, 48, 1), conv(48, 64, 5))
        self.b3 = nn.Sequential(conv(cin, 64, 1), conv(64, 96, 3), conv(96, 96, 3))
        self.bp = PoolBranch(cin, pool_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b5(x), self.b3(x), self.bp(x)], 1)


class InceptionB(nn.Module):
    """35->17 reduction: 3x3/2 | 1x1->3x3->3x3/2 | 3x3/2 max-pool (384+96+cin channels)."""

    def __init__(self, cin: int):
        super().__init__()
        self.b3 = conv(cin, 384, 3, 2)
        self.b3dbl = nn.Sequential(conv(cin, 64, 1), conv(64, 96, 3), conv(96, 96, 3, 2))
        self.pool = nn.MaxPool2d(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b3(x), self.b3dbl(x), self.pool(x)], 1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convs (1x7 / 7x1); 4 x 192 output channels."""

    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.b1 = conv(cin, 192, 1)
        self.b7 = nn.Sequential(conv(cin, c7, 1), conv(c7, c7, (1, 7)), conv(c7, 192, (7, 1)))
        self.b7dbl = nn.Sequential(
            conv(cin, c7, 1),
            conv(c7, c7, (7, 1)),
            conv(c7, c7, (1, 7)),
            conv(c7, c7, (7, 1)),
            conv(c7, 192, (1, 7)),
        )
        self.bp = PoolBranch(cin, 192)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b7(x), self.b7dbl(x), self.bp(x)], 1)


class InceptionD(nn.Module):
    """17->8 reduction: 1x1->3x3/2 | 1x1->1x7->7x1->3x3/2 | 3x3/2 max-pool (320+192+cin channels)."""

    def __init__(self, cin: int):
        super().__init__()
        self.b3 = nn.Sequential(conv(cin, 192, 1), conv(192, 320, 3, 2))
        self.b7x3 = nn.Sequential(
            conv(cin, 192, 1), conv(192, 192, (1, 7)), conv(192, 192, (7, 1)), conv(192, 192, 3, 2)
        )
        self.pool = nn.MaxPool2d(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b3(x), self.b7x3(x), self.pool(x)], 1)


class SplitConv(nn.Module):
    """A 1x3 and a 3x1 conv unit applied to the same input, concatenated (2 x cout channels)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.a = conv(cin, cout, (1, 3))
        self.b = conv(cin, cout, (3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a(x), self.b(x)], 1)


class InceptionE(nn.Module):
    """8x8 block with expanded filter banks: 1x1 | 1x1->split | 1x1->3x3->split | pool (2048 channels)."""

    def __init__(self, cin: int):
        super().__init__()
        self.b1 = conv(cin, 320, 1)
        self.b3 = nn.Sequential(conv(cin, 384, 1), SplitConv(384, 384))
        self.b3dbl = nn.Sequential(conv(cin, 448, 1), conv(448, 384, 3), SplitConv(384, 384))
        self.bp = PoolBranch(cin, 192)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b3dbl(x), self.bp(x)], 1)


class InceptionV3(nn.Module):
    """Stem, 3 x A, B, 4 x C, D, 2 x E, global average pool, dropout, fc (no auxiliary head).

    Works for inputs of at least 75x75; the published size is 3x299x299.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, seed: int = 0):
        super().__init__()
        self.stem = nn.Sequential(
            conv(3, 32, 3, 2),
            conv(32, 32, 3, 1, 0),
            conv(32, 64, 3),
            nn.MaxPool2d(3, 2),
            conv(64, 80, 1),
            conv(80, 192, 3, 1, 0),
            nn.MaxPool2d(3, 2),
        )
        self.blocks = nn.Sequential(
            InceptionA(192, 32),
            InceptionA(256, 64),
            InceptionA(288, 64),
            InceptionB(288),
            InceptionC(768, 128),
            InceptionC(768, 160),
            InceptionC(768, 160),
            InceptionC(768, 192),
            InceptionD(768),
            InceptionE(1280),
            InceptionE(2048),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2048, num_classes)
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(self.blocks(self.stem(x))), 1)
        return self.fc(self.dropout(x))


class TinyInception(nn.Module):
    """3x3 stem and 2x2 max-pool, one inception block (1x1 | 1x1->3x3 | 1x1->1x3->3x1 | avg-pool->1x1)
    concatenated, global average pool and fc; for 3x32x32 inputs."""

    def __init__(self, num_classes: int = 10, seed: int = 0):
        super().__init__()
        self.stem = nn.Sequential(conv(3, 16, 3), nn.MaxPool2d(2))
        self.b1 = conv(16, 16, 1)
        self.b3 = nn.Sequential(conv(16, 12, 1), conv(12, 16, 3))
        self.bsplit = nn.Sequential(conv(16, 12, 1), conv(12, 16, (1, 3)), conv(16, 16, (3, 1)))
        self.bp = PoolBranch(16, 8)
        self.fc = nn.Linear(56, num_classes)
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = torch.cat([self.b1(x), self.b3(x), self.bsplit(x), self.bp(x)], 1)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def inception_v3(num_classes: int = 1000, seed: int = 0) -> InceptionV3:
    """Inception v3 without the auxiliary classifier (23.83M parameters with 1000 classes)."""
    return InceptionV3(num_classes, seed=seed)


def tiny_inception(num_classes: int = 10, seed: int = 0) -> TinyInception:
    """One inception block with concat and an average-pool branch, for 3x32x32 inputs."""
    return TinyInception(num_classes, seed=seed)
