"""Generate the tutorial's synthetic regression data: 2 features -> 1 target, saved as train/test .npz.

    python generate_data.py --n_samples 10000 --output_dir data --seed 42

x1, x2 are uniform in [-2, 2]; y = sin(1.5 x1) + 0.25 x2^2 + 0.3 x1 x2 + N(0, 0.05^2).
The first 80% of the (independent) samples go to train.npz, the rest to test.npz (arrays `x`, `y`, float32).
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np


def make_data(n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): x float32 of shape (n, 2), y float32 of shape (n, 1), reproducible for a seed."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, size=(n_samples, 2))
    x1, x2 = x[:, 0], x[:, 1]
    y = np.sin(1.5 * x1) + 0.25 * x2**2 + 0.3 * x1 * x2 + rng.normal(0.0, 0.05, size=n_samples)
    return x.astype(np.float32), y.reshape(-1, 1).astype(np.float32)


def write_split(x: np.ndarray, y: np.ndarray, output_dir: Path, train_fraction: float = 0.8) -> int:
    """Save the first `train_fraction` of the rows as train.npz, the rest as test.npz; return #train."""
    output_dir.mkdir(parents=True, exist_ok=True)
    n_train = int(round(len(x) * train_fraction))
    np.savez(output_dir / "train.npz", x=x[:n_train], y=y[:n_train])
    np.savez(output_dir / "test.npz", x=x[n_train:], y=y[n_train:])
    return n_train


@click.command()
@click.option("--n_samples", default=10000, show_default=True, help="Total number of samples.")
@click.option("--output_dir", default="data", show_default=True, type=click.Path(path_type=Path))
@click.option("--seed", default=42, show_default=True, help="Random seed.")
def main(n_samples: int, output_dir: Path, seed: int) -> None:
    """Write train.npz (80%) and test.npz (20%) into OUTPUT_DIR."""
    if n_samples < 2:
        raise click.BadParameter("need at least 2 samples", param_hint="--n_samples")
    x, y = make_data(n_samples, seed)
    n_train = write_split(x, y, output_dir)
    click.echo(f"wrote {n_train} train / {n_samples - n_train} test samples to {output_dir}")


if __name__ == "__main__":
    main()
