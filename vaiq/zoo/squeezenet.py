"""SqueezeNet 1.1 (Iandola et al., 2016): fire modules (1x1 squeeze, concatenated 1x1 and 3x3 expands).

No BatchNorm; convs carry biases. Max-pools use ceil_mode. The classifier is a 1x1 conv to the classes,
ReLU and global average pooling. `tiny_squeezenet` keeps two fire modules for 3x32x32 inputs.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import init_params


class Fire(nn.Module):
    """squeeze 1x1 + ReLU, then concat(expand 1x1 + ReLU, expand 3x3 pad 1 + ReLU)."""

    def __init__(self, cin: int, squeeze: int, expand1: int, expand3: int):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(cin, squeeze, 1), nn.ReLU())
        self.expand1 = nn.Sequential(nn.Conv2d(squeeze, expand1, 1), nn.ReLU())
        self.expand3 = nn.Sequential(nn.Conv2d(squeeze, expand3, 3, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze(x)
        return torch.cat([self.expand1(s), self.expand3(s)], 1)


def _pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(3, 2, ceil_mode=True)


class SqueezeNet(nn.Module):
    """`features` then dropout, 1x1 conv to `num_classes`, ReLU, global average pool, flatten."""

    def __init__(self, features: nn.Sequential, channels: int, num_classes: int, dropout: float, seed: int):
        super().__init__()
        self.features = features
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Conv2d(channels, num_classes, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1)
        )
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


def squeezenet(num_classes: int = 1000, seed: int = 0) -> SqueezeNet:
    """SqueezeNet 1.1 (1.24M parameters with 1000 classes); input 3x224x224."""
    features = nn.Sequential(
        nn.Conv2d(3, 64, 3, 2),
        nn.ReLU(),
        _pool(),
        Fire(64, 16, 64, 64),
        Fire(128, 16, 64, 64),
        _pool(),
        Fire(128, 32, 128, 128),
        Fire(256, 32, 128, 128),
        _pool(),
        Fire(256, 48, 192, 192),
        Fire(384, 48, 192, 192),
        Fire(384, 64, 256, 256),
        Fire(512, 64, 256, 256),
    )
    return SqueezeNet(features, 512, num_classes, 0.5, seed)


def tiny_squeezenet(num_classes: int = 10, seed: int = 0) -> SqueezeNet:
    """Stride-2 3x3 conv (pad 1), ceil-mode max-pool, two fire modules, ceil-mode max-pool; for 3x32x32."""
    features = nn.Sequential(
        nn.Conv2d(3, 32, 3, 2, 1),
        nn.ReLU(),
        _pool(),
        Fire(32, 8, 16, 16),
        Fire(32, 8, 16, 16),
        _pool(),
    )
    return SqueezeNet(features, 32, num_classes, 0.5, seed)
