"""ShuffleNetV2 (Ma et al., 2018): channel split, two branches, concat, channel shuffle.

A stride-1 unit splits its input in two halves with `chunk`, keeps the first and runs the second
through 1x1 -> depthwise 3x3 -> 1x1; a stride-2 unit runs the whole input through two branches
(depthwise 3x3 -> 1x1, and 1x1 -> depthwise 3x3 stride 2 -> 1x1). Both concatenate the halves and
shuffle channels (view / transpose / contiguous / view). Global pooling is a `mean` over H and W, as
public model libraries write it. `tiny_shufflenet` keeps both unit types for 3x32x32 inputs.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import ConvBNAct, init_params

# Output channels of conv1, the three stages and conv5 (width 1.0), and units per stage.
X1_0_CHANNELS = (24, 116, 232, 464, 1024)
X1_0_REPEATS = (4, 8, 4)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of `groups` equal groups: (N, g*c, H, W) -> (N, c*g, H, W)."""
    n, channels, h, w = x.size()
    x = x.view(n, groups, channels // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(n, -1, h, w)


def _relu() -> nn.ReLU:
    return nn.ReLU(inplace=True)


class ShuffleUnit(nn.Module):
    """A ShuffleNetV2 unit: channel split (stride 1) or two downsampling branches (stride 2)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        if cout % 2:
            raise ValueError(f"ShuffleUnit: output channels must be even, got {cout}")
        half = cout // 2
        if stride == 1 and cin != cout:
            raise ValueError(f"ShuffleUnit: a stride-1 unit keeps its width, got {cin} -> {cout}")
        self.stride = stride
        if stride > 1:
            self.branch1 = nn.Sequential(
                ConvBNAct(cin, cin, 3, stride, groups=cin),
                ConvBNAct(cin, half, 1, act=_relu()),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            ConvBNAct(cin if stride > 1 else half, half, 1, act=_relu()),
            ConvBNAct(half, half, 3, stride, groups=half),
            ConvBNAct(half, half, 1, act=_relu()),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """3x3 stride-2 stem, 3x3 stride-2 max-pool, three stages (first unit strided), 1x1 conv, mean, fc."""

    def __init__(
        self,
        num_classes: int = 1000,
        channels: tuple[int, ...] = X1_0_CHANNELS,
        repeats: tuple[int, ...] = X1_0_REPEATS,
        seed: int = 0,
    ):
        super().__init__()
        if len(channels) != len(repeats) + 2:
            raise ValueError("ShuffleNetV2: channels = stem, one per stage, conv5")
        self.conv1 = ConvBNAct(3, channels[0], 3, 2, act=_relu())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages = []
        cin = channels[0]
        for cout, count in zip(channels[1:-1], repeats):
            units = [ShuffleUnit(cin, cout, 2)] + [ShuffleUnit(cout, cout, 1) for _ in range(count - 1)]
            stages.append(nn.Sequential(*units))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.conv5 = ConvBNAct(cin, channels[-1], 1, act=_relu())
        self.fc = nn.Linear(channels[-1], num_classes)
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv5(self.stages(self.maxpool(self.conv1(x))))
        return self.fc(x.mean([2, 3]))


def shufflenet_v2(num_classes: int = 1000, seed: int = 0) -> ShuffleNetV2:
    """ShuffleNetV2 x1.0 (2,278,604 parameters with 1000 classes); input 3x224x224."""
    return ShuffleNetV2(num_classes, seed=seed)


def tiny_shufflenet(num_classes: int = 10, seed: int = 0) -> ShuffleNetV2:
    """Stem 12, two stages of a strided and a split unit (odd half-widths 9 and 15), conv5 48; 3x32x32."""
    return ShuffleNetV2(num_classes, channels=(12, 18, 30, 48), repeats=(2, 2), seed=seed)
