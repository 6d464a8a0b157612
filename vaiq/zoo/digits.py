"""A small CNN for scikit-learn's bundled 8x8 handwritten digits, with data loading and training helpers.

The data ships inside scikit-learn (`sklearn.datasets.load_digits`), so nothing is downloaded.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import ConvBNAct, init_params


class DigitsCNN(nn.Module):
    """conv3x3-BN-ReLU (16) -> 2x2 max-pool -> conv3x3-BN-ReLU (32) -> flatten -> fc; input 1x8x8."""

    def __init__(self, num_classes: int = 10, seed: int = 0):
        super().__init__()
        self.conv1 = ConvBNAct(1, 16, 3, act=nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.conv2 = ConvBNAct(16, 32, 3, act=nn.ReLU())
        self.fc = nn.Linear(32 * 4 * 4, num_classes)
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.pool(self.conv1(x)))
        return self.fc(torch.flatten(x, 1))


def digits_cnn(num_classes: int = 10, seed: int = 0) -> DigitsCNN:
    """The untrained digits CNN (see `train_digits_cnn` for a trained one)."""
    return DigitsCNN(num_classes, seed=seed)


def load_digits_split(seed: int = 0, test_fraction: float = 0.2):
    """(x_train, y_train, x_test, y_test): images as float32 N x 1 x 8 x 8 in [0, 1], labels int64.

    The split is a seeded, class-stratified shuffle of the 1797 images.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    idx_train, idx_test = train_test_split(
        torch.arange(len(y)).numpy(), test_size=test_fraction, random_state=seed, stratify=y.numpy()
    )
    idx_train, idx_test = torch.from_numpy(idx_train), torch.from_numpy(idx_test)
    return x[idx_train], y[idx_train], x[idx_test], y[idx_test]


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    """Top-1 accuracy of `model` (put in eval mode) on images `x` with labels `y`."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch_size):
            correct += int((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
    return correct / len(y)


def _fit(model: nn.Module, x_train, y_train, epochs: int, seed: int, batch_size: int, lr: float) -> None:
    """Adam + cross-entropy over seeded shuffles of the training split (the model is left in train mode)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(int(seed))
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y_train), generator=gen)
        for i in range(0, len(order), batch_size):
            batch = order[i : i + batch_size]
            opt.zero_grad()
            loss_fn(model(x_train[batch]), y_train[batch]).backward()
            opt.step()


def train_digits_cnn(
    epochs: int = 10, seed: int = 0, batch_size: int = 32, lr: float = 3e-3
) -> tuple[DigitsCNN, float]:
    """Train a `DigitsCNN` with Adam and cross-entropy on the seeded split; returns (model, test accuracy).

    Deterministic for a seed on a given machine and thread count; about a second on one CPU core.
    """
    x_train, y_train, x_test, y_test = load_digits_split(seed)
    model = DigitsCNN(seed=seed)
    _fit(model, x_train, y_train, epochs, seed, batch_size, lr)
    return model, evaluate(model, x_test, y_test)


def upscale_digits(x: torch.Tensor, size: int = 32) -> torch.Tensor:
    """8x8 grey digits as 3 x size x size images (bilinear upscale, the grey value in all three channels)."""
    import torch.nn.functional as F

    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)


def train_digits_mobilenet(
    epochs: int = 6, seed: int = 0, batch_size: int = 32, lr: float = 3e-3
) -> tuple[nn.Module, float]:
    """Train `tiny_mobilenet` (a MobileNetV2-style net, 3x32x32 input) on the upscaled digits split;
    returns (model in eval mode, test accuracy). Deterministic for a seed on a given machine and
    thread count; some tens of seconds on two CPU cores."""
    from .mobilenet import tiny_mobilenet

    x_train, y_train, x_test, y_test = load_digits_split(seed)
    x_train, x_test = upscale_digits(x_train), upscale_digits(x_test)
    torch.manual_seed(seed)   # dropout draws from the global generator
    model = tiny_mobilenet(10, seed=seed)
    _fit(model, x_train, y_train, epochs, seed, batch_size, lr)
    return model.eval(), evaluate(model, x_test, y_test)
