"""Models the WeGO tests share: a net with two DPU regions around CPU ops (GELU, a channel shuffle
the DPU cannot do, a sigmoid gate) and helpers to compile a quantized model."""
import torch
from torch import nn

import wego_torch


class TwoRegions(nn.Module):
    """conv-BN-ReLU, conv -> GELU -> channel shuffle (view/transpose/reshape) -> conv -> sigmoid gate
    -> conv -> mean -> linear -> softmax."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.b1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.c3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.gate = nn.Conv2d(16, 16, 1)
        self.c4 = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16, 5)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
            self.b1.running_mean.copy_(torch.randn(8, generator=g) * 0.1)
            self.b1.running_var.copy_(torch.rand(8, generator=g) + 0.5)

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = nn.functional.gelu(self.c2(y))
        n, c, h, w = y.shape
        y = y.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
        y = torch.relu(self.c3(y))
        y = y * torch.sigmoid(self.gate(y))
        y = torch.relu(self.c4(y))
        return torch.softmax(self.fc(y.mean((2, 3))), dim=1)


def compile_opts(quant_dir, cache_dir, **kw):
    return wego_torch.CompileOptions(dynamo=True, dynamo_options=wego_torch.DynamoCompileOptions(str(quant_dir)),
                                     cache_dir=str(cache_dir), verbose=False, **kw)


def inputs(shape, batch, seed=11):
    return torch.randn(batch, *shape[1:], generator=torch.Generator().manual_seed(seed)) * 1.3
