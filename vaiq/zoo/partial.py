"""A small CNN with ops the DPU lacks (sigmoid gate, softmax) among DPU-friendly convs.

Used to exercise partial placement: the compiler must cut it into DPU and CPU subgraphs.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import ConvBNAct, init_params


class PartialNet(nn.Module):
    """conv-BN-ReLU x2 -> sigmoid spatial gate (1x1 conv -> sigmoid, multiplied with the features)
    -> conv-BN-ReLU x2 -> global average pool -> fc -> softmax; input 3x32x32."""

    def __init__(self, num_classes: int = 10, seed: int = 0):
        super().__init__()
        self.conv1 = ConvBNAct(3, 16, 3, act=nn.ReLU())
        self.conv2 = ConvBNAct(16, 32, 3, 2, act=nn.ReLU())
        self.gate = nn.Conv2d(32, 32, 1)
        self.sigmoid = nn.Sigmoid()
        self.conv3 = ConvBNAct(32, 64, 3, 2, act=nn.ReLU())
        self.conv4 = ConvBNAct(64, 64, 3, act=nn.ReLU())
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        self.softmax = nn.Softmax(dim=1)
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(x))
        x = x * self.sigmoid(self.gate(x))
        x = self.conv4(self.conv3(x))
        return self.softmax(self.fc(torch.flatten(self.avgpool(x), 1)))


def partial_net(num_classes: int = 10, seed: int = 0) -> PartialNet:
    """The partial-placement test net for 3x32x32 inputs."""
    return PartialNet(num_classes, seed=seed)
