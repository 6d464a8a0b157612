"""The tutorial's toy feed-forward network: 2 -> 6 -> 4 -> 1 with ReLU between the layers."""

from __future__ import annotations

import torch
from torch import nn

from .common import init_params


class FFN(nn.Module):
    """Three fully connected layers (in_features -> 6 -> 4 -> num_classes), ReLU after the first two.

    A regression net: `num_classes` is the number of outputs (1 in the tutorial).
    """

    def __init__(self, in_features: int = 2, num_classes: int = 1, seed: int = 0):
        super().__init__()
        self.fc1 = nn.Linear(in_features, 6)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(6, 4)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(4, num_classes)
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.fc1(x))
        x = self.relu2(self.fc2(x))
        return self.fc3(x)
