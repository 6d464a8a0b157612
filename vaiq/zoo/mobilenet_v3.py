"""MobileNetV3-Small (Howard et al., 2019): inverted residuals with ReLU or hard-swish and hard-sigmoid
squeeze-and-excitation.

Each block: 1x1 expansion (skipped when the expanded width equals the input), depthwise k x k conv,
optional squeeze-and-excitation after the depthwise conv (squeeze width = expanded/4 rounded to a
multiple of 8, ReLU inside, hard-sigmoid gate), linear 1x1 projection, residual add when the shape is
kept. The head is a 1x1 conv to 6x the last width with hard-swish, global average pool and a two-layer
classifier (1024 hidden units, hard-swish, dropout). In-place activations, as public model libraries
write them. `tiny_mobilenet_v3` keeps every block type for 3x32x32 inputs.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .common import ConvBNAct, SqueezeExcite, init_params, make_divisible

_BN_EPS = 1e-3


class BlockConfig(NamedTuple):
    """One inverted residual: input/expanded/output channels, kernel, squeeze-excite, hard-swish, stride."""

    cin: int
    expanded: int
    cout: int
    kernel: int
    se: bool
    hswish: bool
    stride: int


def _cfg(cin, kernel, expanded, cout, se, act, stride) -> BlockConfig:
    return BlockConfig(cin, expanded, cout, kernel, se, act == "HS", stride)


# The published MobileNetV3-Small blocks: (in, kernel, expanded, out, SE, activation, stride).
SMALL_BLOCKS = tuple(_cfg(*row) for row in (
    (16, 3, 16, 16, True, "RE", 2),
    (16, 3, 72, 24, False, "RE", 2),
    (24, 3, 88, 24, False, "RE", 1),
    (24, 5, 96, 40, True, "HS", 2),
    (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 120, 48, True, "HS", 1),
    (48, 5, 144, 48, True, "HS", 1),
    (48, 5, 288, 96, True, "HS", 2),
    (96, 5, 576, 96, True, "HS", 1),
    (96, 5, 576, 96, True, "HS", 1),
))


def _act(hswish: bool) -> nn.Module:
    return nn.Hardswish(inplace=True) if hswish else nn.ReLU(inplace=True)


class InvertedResidualV3(nn.Module):
    """Expand (optional), depthwise, squeeze-excite (optional), project; residual when shapes match."""

    def __init__(self, cfg: BlockConfig):
        super().__init__()
        layers: list[nn.Module] = []
        if cfg.expanded != cfg.cin:
            layers.append(ConvBNAct(cfg.cin, cfg.expanded, 1, act=_act(cfg.hswish), eps=_BN_EPS))
        layers.append(ConvBNAct(cfg.expanded, cfg.expanded, cfg.kernel, cfg.stride, groups=cfg.expanded,
                                act=_act(cfg.hswish), eps=_BN_EPS))
        if cfg.se:
            squeeze = make_divisible(cfg.expanded // 4, 8)
            layers.append(SqueezeExcite(cfg.expanded, squeeze, nn.ReLU(inplace=True), nn.Hardsigmoid(inplace=True)))
        layers.append(ConvBNAct(cfg.expanded, cfg.cout, 1, eps=_BN_EPS))
        self.block = nn.Sequential(*layers)
        self.use_residual = cfg.stride == 1 and cfg.cin == cfg.cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_residual:
            out += x
        return out


class MobileNetV3(nn.Module):
    """Hard-swish stem, inverted residual blocks, 1x1 hard-swish head conv, pool, two-layer classifier."""

    def __init__(
        self,
        num_classes: int = 1000,
        blocks: tuple[BlockConfig, ...] = SMALL_BLOCKS,
        last_channels: int = 1024,
        dropout: float = 0.2,
        seed: int = 0,
    ):
        super().__init__()
        layers: list[nn.Module] = [ConvBNAct(3, blocks[0].cin, 3, 2, act=nn.Hardswish(inplace=True), eps=_BN_EPS)]
        layers += [InvertedResidualV3(cfg) for cfg in blocks]
        head = 6 * blocks[-1].cout
        layers.append(ConvBNAct(blocks[-1].cout, head, 1, act=nn.Hardswish(inplace=True), eps=_BN_EPS))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(head, last_channels),
            nn.Hardswish(inplace=True),
            nn.Dropout(dropout, inplace=True),
            nn.Linear(last_channels, num_classes),
        )
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v3_small(num_classes: int = 1000, seed: int = 0) -> MobileNetV3:
    """MobileNetV3-Small (2,542,856 parameters with 1000 classes); input 3x224x224."""
    return MobileNetV3(num_classes, seed=seed)


def tiny_mobilenet_v3(num_classes: int = 10, seed: int = 0) -> MobileNetV3:
    """Five blocks: a strided SE block without expansion (ReLU), a strided and a residual ReLU block,
    a strided 5x5 SE hard-swish block and a residual one (odd widths 13 and 21); head 126, 64 hidden."""
    blocks = tuple(_cfg(*row) for row in (
        (8, 3, 8, 8, True, "RE", 2),
        (8, 3, 36, 13, False, "RE", 2),
        (13, 3, 39, 13, False, "RE", 1),
        (13, 5, 48, 21, True, "HS", 2),
        (21, 5, 63, 21, True, "HS", 1),
    ))
    return MobileNetV3(num_classes, blocks=blocks, last_channels=64, seed=seed)
