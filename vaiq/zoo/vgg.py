"""VGG (Simonyan and Zisserman, 2015): 3x3 convs with biases and ReLU in five max-pooled stages, then
three fully connected layers. `vgg16` is configuration D for 3x224x224 inputs, written as TF-slim
writes it (the form of the Vitis AI model zoo's tf_vgg16): the fully connected layers are
convolutions, fc6 a 7x7 valid conv over the 512x7x7 feature map and fc7 / fc8 1x1 convs, so the
input size is fixed. The parameters are those of the dense form (the same count)."""

from __future__ import annotations

import torch
from torch import nn

from .common import init_params

# output channels per conv, "M" a 2x2 max-pool, of configuration D
VGG16_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG(nn.Module):
    """`features` (conv 3x3 pad 1 + ReLU, max-pools) then fc6 (7x7 conv), fc7 (1x1), each with ReLU
    and dropout, and fc8 (1x1), flattened to (batch, classes)."""

    def __init__(self, layers=VGG16_LAYERS, num_classes: int = 1000, spatial: int = 7, hidden: int = 4096,
                 dropout: float = 0.5, seed: int = 0):
        super().__init__()
        blocks: list[nn.Module] = []
        cin = 3
        for v in layers:
            if v == "M":
                blocks.append(nn.MaxPool2d(2, 2))
            else:
                blocks += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU()]
                cin = v
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.Conv2d(cin, hidden, spatial), nn.ReLU(), nn.Dropout(dropout),
            nn.Conv2d(hidden, hidden, 1), nn.ReLU(), nn.Dropout(dropout), nn.Conv2d(hidden, num_classes, 1))
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


def vgg16(num_classes: int = 1000, seed: int = 0) -> VGG:
    """VGG-16 (configuration D, 138.4M parameters with 1000 classes); input 3x224x224."""
    return VGG(VGG16_LAYERS, num_classes, seed=seed)
