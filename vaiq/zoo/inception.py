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


# ---- torchvision's parameter names (so its Inception-v3 checkpoints load as they are) ------------

_A = {"b1": "branch1x1", "b5.0": "branch5x5_1", "b5.1": "branch5x5_2", "b3.0": "branch3x3dbl_1",
      "b3.1": "branch3x3dbl_2", "b3.2": "branch3x3dbl_3", "bp.conv": "branch_pool"}
_B = {"b3": "branch3x3", "b3dbl.0": "branch3x3dbl_1", "b3dbl.1": "branch3x3dbl_2", "b3dbl.2": "branch3x3dbl_3"}
_C = {"b1": "branch1x1", **{f"b7.{i}": f"branch7x7_{i + 1}" for i in range(3)},
      **{f"b7dbl.{i}": f"branch7x7dbl_{i + 1}" for i in range(5)}, "bp.conv": "branch_pool"}
_D = {"b3.0": "branch3x3_1", "b3.1": "branch3x3_2", **{f"b7x3.{i}": f"branch7x7x3_{i + 1}" for i in range(4)}}
_E = {"b1": "branch1x1", "b3.0": "branch3x3_1", "b3.1.a": "branch3x3_2a", "b3.1.b": "branch3x3_2b",
      "b3dbl.0": "branch3x3dbl_1", "b3dbl.1": "branch3x3dbl_2", "b3dbl.2.a": "branch3x3dbl_3a",
      "b3dbl.2.b": "branch3x3dbl_3b", "bp.conv": "branch_pool"}
_BLOCKS = [("Mixed_5b", _A), ("Mixed_5c", _A), ("Mixed_5d", _A), ("Mixed_6a", _B), ("Mixed_6b", _C),
           ("Mixed_6c", _C), ("Mixed_6d", _C), ("Mixed_6e", _C), ("Mixed_7a", _D), ("Mixed_7b", _E),
           ("Mixed_7c", _E)]
_STEM = {"stem.0": "Conv2d_1a_3x3", "stem.1": "Conv2d_2a_3x3", "stem.2": "Conv2d_2b_3x3",
         "stem.4": "Conv2d_3b_1x1", "stem.5": "Conv2d_4a_3x3"}
#: the training-only auxiliary classifier of torchvision's checkpoints, which InceptionV3 leaves out
TORCHVISION_AUX_PREFIX = "AuxLogits."


def torchvision_names() -> dict[str, str]:
    """InceptionV3 state-dict key -> torchvision's Inception3 key (conv units ``<unit>.0``/``.1`` are
    its BasicConv2d ``<unit>.conv``/``.bn``; blocks are its Mixed_* modules)."""
    units = dict(_STEM)
    for i, (tv, names) in enumerate(_BLOCKS):
        units.update({f"blocks.{i}.{ours}": f"{tv}.{theirs}" for ours, theirs in names.items()})
    out = {}
    for key in InceptionV3(seed=0).state_dict():
        if key.startswith("fc."):
            out[key] = key
            continue
        unit, layer, part = key.rsplit(".", 2)
        out[key] = f"{units[unit]}.{ {'0': 'conv', '1': 'bn'}[layer]}.{part}"
    return out


def load_torchvision_state_dict(model: InceptionV3, state: dict) -> InceptionV3:
    """Load a torchvision-named Inception-v3 state dict (e.g. ``inception_v3_google-0cc3c7bd.pth``)
    into ``model``; the auxiliary head's ``AuxLogits.*`` entries are skipped. A key the model does not
    have, a shape that differs or a missing key raises ValueError naming the first offending key."""
    names = torchvision_names()
    ours_of = {tv: ours for ours, tv in names.items()}
    have = model.state_dict()
    out = {}
    for key, value in state.items():
        if key.startswith(TORCHVISION_AUX_PREFIX):
            continue
        if key not in ours_of:
            raise ValueError(f"checkpoint key '{key}' is not a parameter of torchvision's Inception-v3")
        ours = ours_of[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(have[ours].shape):
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"checkpoint key '{key}' has shape {got}, the model's is {tuple(have[ours].shape)}")
        out[ours] = value
    missing = [tv for ours, tv in names.items() if ours not in out]
    if missing:
        raise ValueError(f"checkpoint lacks key '{missing[0]}' (and {len(missing) - 1} more)" if len(missing) > 1
                         else f"checkpoint lacks key '{missing[0]}'")
    model.load_state_dict(out)
    return model
