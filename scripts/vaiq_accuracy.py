"""Float vs int8 quality of the two trained example models (issue 3's acceptance figures).

- digits CNN (scikit-learn's 8x8 digits): test accuracy, float vs quantized (target: drop <= 1 point);
- tutorial FFN (synthetic regression): test MSE, float vs quantized.
Usage: python scripts/vaiq_accuracy.py [--seed 0] [--calib 500]
"""
from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import click
import torch
from rich.console import Console
from rich.table import Table

from vaiq import torch_quantizer
from vaiq.zoo.digits import evaluate, load_digits_split, train_digits_cnn

ROOT = Path(__file__).resolve().parent.parent


def quantize(model, calib: torch.Tensor, out: str, batch: int = 100):
    q = torch_quantizer("calib", model, (calib[:1],), output_dir=out)
    with torch.no_grad():
        for i in range(0, calib.shape[0], batch):
            q.quant_model(calib[i:i + batch])
    q.export_quant_config()
    return torch_quantizer("test", model, (calib[:1],), output_dir=out)


def digits(seed: int, n_calib: int):
    model, float_acc = train_digits_cnn(seed=seed)
    xtr, ytr, xte, yte = load_digits_split(seed=seed)
    q = quantize(model, xtr[:n_calib], tempfile.mkdtemp())
    return float_acc, evaluate(q.quant_model, xte, yte)


def _load(name: str, path: Path):
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # the tutorial scripts import their neighbours
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def ffn(seed: int, n_calib: int, epochs: int = 40):
    """The tutorial: data (seed 42 as in the original), training, calibration, test MSE."""
    gen = _load("ffn_generate_data", ROOT / "examples" / "ffn" / "generate_data.py")
    run = _load("ffn_run", ROOT / "examples" / "ffn" / "run.py")
    d = Path(tempfile.mkdtemp())
    x, y = gen.make_data(10000, 42)
    gen.write_split(x, y, d)
    xtr, ytr = run.load_split(d, "train")
    xte, yte = run.load_split(d, "test")
    model = run.train(xtr, ytr, epochs=epochs, seed=42)
    q = quantize(model, xtr[:n_calib], tempfile.mkdtemp())
    return run.mse(model, xte, yte), run.mse(q.quant_model, xte, yte)


@click.command()
@click.option("--seed", default=0, show_default=True)
@click.option("--calib", "n_calib", default=500, show_default=True, help="calibration samples")
def main(seed: int, n_calib: int) -> None:
    table = Table(title="vaiq: float vs int8")
    for col in ("model", "metric", "float", "int8", "change"):
        table.add_column(col, justify="right")
    fa, qa = digits(seed, n_calib)
    table.add_row("digits_cnn", "test accuracy %", f"{fa * 100:.2f}", f"{qa * 100:.2f}", f"{(qa - fa) * 100:+.2f} pt")
    fm, qm = ffn(seed, n_calib)
    table.add_row("ffn (tutorial)", "test MSE", f"{fm:.6f}", f"{qm:.6f}", f"{(qm / fm - 1) * 100:+.1f} %")
    Console().print(table)


if __name__ == "__main__":
    main()
