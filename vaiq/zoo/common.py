"""Shared pieces of the model zoo: seeded initialisation, BN statistics, a conv-BN-activation block,
stochastic depth, squeeze-and-excitation and the channel rounding rule of the mobile nets."""

from __future__ import annotations

import math

import torch
from torch import nn

_CONV_TYPES = (nn.Conv2d, nn.ConvTranspose2d)
_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)


def _fan(weight: torch.Tensor, transposed: bool) -> tuple[int, int]:
    """(fan_in, fan_out) of a conv/linear weight; transposed convs store (in, out/groups, kh, kw)."""
    receptive = weight[0, 0].numel() if weight.dim() > 2 else 1
    a, b = weight.shape[0], weight.shape[1]
    if transposed:
        return a * receptive, b * receptive
    return b * receptive, a * receptive


def init_params(model: nn.Module, seed: int = 0) -> nn.Module:
    """Re-initialise every parameter of `model` from a generator seeded with `seed`.

    Conv weights: He-normal on fan_out; linear weights: He-uniform on fan_in; biases: uniform in
    +-1/sqrt(fan_in); BatchNorm scale in [0.5, 1.5] and shift in [-0.1, 0.1] (not the identity, so BN
    folding is exercised). The global torch RNG is not used. Raises TypeError for a module type with
    parameters this scheme does not cover, so no parameter is silently left at its default.
    """
    gen = torch.Generator().manual_seed(int(seed))
    done: set[int] = set()
    with torch.no_grad():
        for module in model.modules():
            own = list(module.parameters(recurse=False))
            if not own:
                continue
            if isinstance(module, (*_CONV_TYPES, nn.Linear)):
                transposed = isinstance(module, nn.ConvTranspose2d)
                fan_in, fan_out = _fan(module.weight, transposed)
                if isinstance(module, nn.Linear):
                    bound = math.sqrt(6.0 / fan_in)
                    module.weight.uniform_(-bound, bound, generator=gen)
                else:
                    module.weight.normal_(0.0, math.sqrt(2.0 / fan_out), generator=gen)
                if module.bias is not None:
                    bound = 1.0 / math.sqrt(fan_in)
                    module.bias.uniform_(-bound, bound, generator=gen)
            elif isinstance(module, _BN_TYPES):
                module.weight.uniform_(0.5, 1.5, generator=gen)
                module.bias.uniform_(-0.1, 0.1, generator=gen)
            else:
                raise TypeError(f"init_params: no rule for {type(module).__name__}")
            done.update(id(p) for p in own)
    missing = [n for n, p in model.named_parameters() if id(p) not in done]
    if missing:
        raise TypeError(f"init_params: parameters left uninitialised: {missing}")
    return model


def calibrate_bn_stats(
    model: nn.Module, input_shape: tuple[int, ...], batches: int = 4, seed: int = 0
) -> nn.Module:
    """Fill BatchNorm running statistics from seeded random batches, then put `model` in eval mode.

    Each batch is standard-normal data of `input_shape` with the batch dimension raised to at least 2
    (train-mode BN needs more than one value per channel). Running statistics are reset and averaged
    over the batches (cumulative average), so they describe the model's real activations instead of
    the identity (mean 0, var 1). Only the BatchNorm layers run in training mode: dropout and stochastic
    depth stay in eval mode, so the statistics are those of the deterministic network and do not depend
    on the global RNG. A model without BatchNorm is only put in eval mode.
    """
    bns = [m for m in model.modules() if isinstance(m, _BN_TYPES)]
    if bns:
        shape = (max(2, int(input_shape[0])), *input_shape[1:])
        gen = torch.Generator().manual_seed(int(seed))
        momenta = [bn.momentum for bn in bns]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None
        model.eval()
        for bn in bns:
            bn.train()
        with torch.no_grad():
            for _ in range(batches):
                model(torch.randn(shape, generator=gen))
        for bn, momentum in zip(bns, momenta):
            bn.momentum = momentum
    return model.eval()


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> activation (an nn.Module or None)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int | tuple[int, int] = 3,
        stride: int = 1,
        padding: int | tuple[int, int] | None = None,
        groups: int = 1,
        act: nn.Module | None = None,
        eps: float = 1e-5,
    ):
        if padding is None:
            k = (kernel, kernel) if isinstance(kernel, int) else kernel
            padding = (k[0] // 2, k[1] // 2)
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=eps),
        ]
        if act is not None:
            layers.append(act)
        super().__init__(*layers)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to the nearest multiple of `divisor` (at least `min_value`, default
    `divisor`), going one step up when rounding would lose more than 10% (the mobile-net rule)."""
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class DropPath(nn.Module):
    """Stochastic depth: in training, zero a residual branch per sample with probability `p` and scale
    the survivors by 1/(1-p); the identity in eval mode (and when p is 0)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"DropPath: drop probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
        return x * mask.bernoulli_(keep).div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: global average pool -> 1x1 conv (reduce) -> act -> 1x1 conv (expand)
    -> gate (sigmoid or hard-sigmoid) -> multiply the input by the per-channel scale."""

    def __init__(self, channels: int, squeeze: int, act: nn.Module, gate: nn.Module):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.act = act
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gate(self.fc2(self.act(self.fc1(self.avgpool(x)))))
        return x * scale


def residual_stages(make_block, cin: int, widths, layers, expansion: int) -> tuple[nn.Sequential, int]:
    """ResNet-style stages: ``layers[i]`` blocks of ``widths[i]`` planes each, the first block of every
    stage after the first with stride 2; ``make_block(cin, planes, stride)``. Returns (stages, channels out)."""
    stages = []
    for i, (planes, count) in enumerate(zip(widths, layers)):
        blocks = []
        for j in range(count):
            blocks.append(make_block(cin, planes, 2 if (i > 0 and j == 0) else 1))
            cin = planes * expansion
        stages.append(nn.Sequential(*blocks))
    return nn.Sequential(*stages), cin
