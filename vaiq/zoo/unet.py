"""U-Net (Ronneberger et al., 2015) with padded convs and BatchNorm, as public reference implementations
write it: a contracting path of double 3x3 conv blocks and 2x2 max-pools, an expanding path that
upsamples, concatenates the encoder map of the same size (skip connection) and applies a double conv,
and a 1x1 conv to per-pixel class logits (N, num_classes, H, W).

Upsampling is selectable: "transposed" (default; a 2x2 stride-2 ConvTranspose2d halving the channels
to the skip's width) or "nearest" (nearest x2 resize keeping the channels; the double conv then takes
the wider concat). Input H and W must be divisible by 2^(levels - 1). In-place ReLU.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import ConvBNAct, init_params

UPSAMPLING = ("transposed", "nearest")


class DoubleConv(nn.Sequential):
    """(3x3 conv -> BN -> ReLU) twice."""

    def __init__(self, cin: int, cout: int):
        super().__init__(
            ConvBNAct(cin, cout, 3, act=nn.ReLU(inplace=True)),
            ConvBNAct(cout, cout, 3, act=nn.ReLU(inplace=True)),
        )


class Down(nn.Sequential):
    """2x2 max-pool, then a double conv."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.MaxPool2d(2), DoubleConv(cin, cout))


class Up(nn.Module):
    """Upsample the deeper map x2, concatenate the skip map before it, double conv to the skip's width."""

    def __init__(self, cin: int, skip: int, mode: str):
        super().__init__()
        if mode == "transposed":
            self.up = nn.ConvTranspose2d(cin, skip, 2, 2)
            merged = 2 * skip
        else:
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            merged = cin + skip
        self.conv = DoubleConv(merged, skip)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """Encoder widths `widths` (the first at full resolution, each next one after a 2x2 max-pool),
    decoder back up with skip concats, 1x1 conv to `num_classes` logits per pixel."""

    def __init__(
        self,
        num_classes: int = 2,
        widths: tuple[int, ...] = (64, 128, 256, 512, 1024),
        upsampling: str = "transposed",
        in_channels: int = 3,
        seed: int = 0,
    ):
        super().__init__()
        if upsampling not in UPSAMPLING:
            raise ValueError(f"unknown upsampling {upsampling!r}; choose one of {', '.join(UPSAMPLING)}")
        if len(widths) < 2:
            raise ValueError("UNet: need at least two widths (one encoder level and a bottleneck)")
        self.inc = DoubleConv(in_channels, widths[0])
        self.downs = nn.ModuleList(Down(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.ups = nn.ModuleList(Up(b, a, upsampling) for a, b in reversed(list(zip(widths[:-1], widths[1:]))))
        self.outc = nn.Conv2d(widths[0], num_classes, 1)
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inc(x)
        skips = [x]
        for down in self.downs:
            x = down(x)
            skips.append(x)
        skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
        return self.outc(x)


def unet(num_classes: int = 2, seed: int = 0, upsampling: str = "transposed") -> UNet:
    """U-Net with the paper's widths 64..1024 (31,037,698 parameters with 2 classes and transposed-conv
    upsampling); input 3x128x128 (any multiple of 16)."""
    return UNet(num_classes, upsampling=upsampling, seed=seed)


def tiny_unet(num_classes: int = 3, seed: int = 0, upsampling: str = "transposed") -> UNet:
    """Three levels of widths 5, 9, 17 (odd), for 3x32x32."""
    return UNet(num_classes, widths=(5, 9, 17), upsampling=upsampling, seed=seed)
