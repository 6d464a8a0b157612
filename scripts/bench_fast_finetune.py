"""Fast finetune (vaiq/finetune.py) against plain post-training quantization on the trained digits
CNN (vaiq.zoo.train_digits_cnn): output SQNR against the float model and top-1 accuracy on the 360
held-out test images, and the finetune's time.

Both runs calibrate on the same first ``--samples`` training images; the finetuned run also finetunes
on them with the default settings (vaiq.finetune.FtSettings), as nndct's calls do:
``fast_finetune(run_fn, run_args)``, ``export_quant_config()``, then test mode with ``load_ft_param()``.

Usage: python scripts/bench_fast_finetune.py [--samples 256] [--epochs 10] [--bitwidth 8] [--workdir DIR]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from vaiq import torch_quantizer
from vaiq.zoo import load_digits_split, train_digits_cnn


def feed(qm, x, batch=32):
    with torch.no_grad():
        for i in range(0, len(x), batch):
            qm(x[i:i + batch])


def run(model, x_calib, example, out: Path, bitwidth: int, ft: bool):
    q = torch_quantizer("calib", model, (example,), output_dir=str(out), bitwidth=bitwidth)
    t = time.perf_counter()
    if ft:
        q.fast_finetune(feed, (q.quant_model, x_calib))
    else:
        feed(q.quant_model, x_calib)
    took = time.perf_counter() - t
    q.export_quant_config()
    qt = torch_quantizer("test", model, (example,), output_dir=str(out), bitwidth=bitwidth)
    if ft:
        qt.load_ft_param()
    return qt, took, q.ft_report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--bitwidth", type=int, default=8)
    ap.add_argument("--workdir", type=Path, default=None)
    a = ap.parse_args()
    model, float_acc = train_digits_cnn(seed=0, epochs=a.epochs)
    x_train, _, x_test, y_test = load_digits_split(0)
    work = a.workdir or Path(tempfile.mkdtemp(prefix="bench-ft-"))
    with torch.no_grad():
        ref = model(x_test)
    table = Table(title=f"digits CNN ({a.epochs} epochs, float top-1 {100 * float_acc:.2f}%), "
                        f"{a.bitwidth}-bit, {a.samples} calibration samples")
    for col in ("run", "SQNR dB", "top-1 %", "finetune s", "end-of-network MSE (ft samples)"):
        table.add_column(col)
    for ft in (False, True):
        qt, took, rep = run(model, x_train[:a.samples], x_train[:1], work / ("ft" if ft else "ptq"), a.bitwidth, ft)
        with torch.no_grad():
            y = qt.quant_model(x_test)
        sqnr = float(10 * torch.log10((ref ** 2).sum() / ((ref - y) ** 2).sum()))
        acc = float((y.argmax(1) == y_test).double().mean())
        mse = f"{rep.layers[0].error_before:.5g} -> {rep.layers[-1].error_after:.5g}" if rep else ""
        table.add_row("PTQ + fast finetune" if ft else "PTQ", f"{sqnr:.2f}", f"{100 * acc:.2f}",
                      f"{took:.1f}" if ft else "", mse)
    Console().print(table)


if __name__ == "__main__":
    main()
