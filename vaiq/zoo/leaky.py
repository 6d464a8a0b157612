"""A small encoder-decoder covering LeakyReLU, hard-sigmoid gating, nearest upsampling, concat and
a 2x2 stride-2 transposed conv; per-pixel class scores for 3x32x32 inputs."""

from __future__ import annotations

import torch
from torch import nn

from .common import ConvBNAct, init_params


def _leaky() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.1)


class LeakyNet(nn.Module):
    """enc1 (32x32) -> max-pool -> enc2 (16x16) -> strided conv (8x8) -> transposed conv up (16x16),
    concat enc2 -> conv -> hard-sigmoid gate multiply -> nearest x2 up (32x32), concat enc1 -> conv
    -> 1x1 head to `num_classes` channels."""

    def __init__(self, num_classes: int = 4, seed: int = 0):
        super().__init__()
        self.enc1 = ConvBNAct(3, 16, 3, act=_leaky())
        self.pool = nn.MaxPool2d(2)
        self.enc2 = ConvBNAct(16, 32, 3, act=_leaky())
        self.down = nn.Sequential(nn.Conv2d(32, 32, 3, 2, 1), _leaky())
        self.up1 = nn.ConvTranspose2d(32, 32, 2, 2)
        self.dec1 = ConvBNAct(64, 32, 3, act=_leaky())
        self.gate = nn.Sequential(nn.Conv2d(32, 32, 1), nn.Hardsigmoid())
        self.up2 = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec2 = nn.Sequential(nn.Conv2d(48, 16, 3, 1, 1), _leaky())
        self.head = nn.Conv2d(16, num_classes, 1)
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        d = self.up1(self.down(e2))
        d = self.dec1(torch.cat([d, e2], 1))
        d = d * self.gate(d)
        d = self.dec2(torch.cat([self.up2(d), e1], 1))
        return self.head(d)


def leaky_net(num_classes: int = 4, seed: int = 0) -> LeakyNet:
    """The LeakyReLU / hard-sigmoid / upsample / transposed-conv coverage net for 3x32x32 inputs."""
    return LeakyNet(num_classes, seed=seed)
