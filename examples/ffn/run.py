"""Train and evaluate the tutorial FFN on the synthetic data (float model, before quantization).

    python run.py --train --evaluate --data_dir data --epochs 40 --checkpoint ffn.pth --seed 42

Training is Adam + MSE with seeded initialisation and shuffling, so the same seed gives the same
checkpoint. The checkpoint is a plain state_dict written with torch.save.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import torch
from torch import nn

from model import FFN


def load_split(data_dir: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) float32 tensors from `<data_dir>/<split>.npz` as written by generate_data.py."""
    with np.load(Path(data_dir) / f"{split}.npz") as data:
        return torch.from_numpy(data["x"]), torch.from_numpy(data["y"])


def train(
    x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int, batch_size: int = 64, lr: float = 1e-2
) -> FFN:
    """A freshly initialised FFN trained with Adam on the MSE loss; deterministic for a seed."""
    torch.manual_seed(seed)
    model = FFN(seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(order), batch_size):
            batch = order[i : i + batch_size]
            opt.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            opt.step()
    return model.eval()


def mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Mean squared error of `model` over (x, y), evaluated in batches."""
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            total += float(((model(x[i : i + batch_size]) - y[i : i + batch_size]) ** 2).sum())
    return total / len(x)


def load_model(checkpoint: Path) -> FFN:
    """An FFN in eval mode with the weights of a run.py checkpoint."""
    model = FFN()
    model.load_state_dict(torch.load(checkpoint, weights_only=True))
    return model.eval()


@click.command()
@click.option("--train", "do_train", is_flag=True, help="Train and save the checkpoint.")
@click.option("--evaluate", "do_eval", is_flag=True, help="Print the test MSE of the checkpoint.")
@click.option("--data_dir", default="data", show_default=True, type=click.Path(path_type=Path))
@click.option("--epochs", default=40, show_default=True)
@click.option("--checkpoint", default="ffn.pth", show_default=True, type=click.Path(path_type=Path))
@click.option("--seed", default=42, show_default=True)
def main(do_train: bool, do_eval: bool, data_dir: Path, epochs: int, checkpoint: Path, seed: int) -> None:
    """Train (--train) and/or evaluate (--evaluate) the FFN."""
    if not (do_train or do_eval):
        raise click.UsageError("give --train, --evaluate or both")
    torch.set_num_threads(1)
    if do_train:
        x, y = load_split(data_dir, "train")
        model = train(x, y, epochs, seed)
        torch.save(model.state_dict(), checkpoint)
        click.echo(f"trained {epochs} epochs, train MSE {mse(model, x, y):.6f}, saved {checkpoint}")
    if do_eval:
        x, y = load_split(data_dir, "test")
        click.echo(f"test MSE {mse(load_model(checkpoint), x, y):.6f}")


if __name__ == "__main__":
    main()
