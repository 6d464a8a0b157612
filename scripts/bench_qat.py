"""Benchmark: quantization-aware training (vaiq.QatProcessor) against float and post-training quantization.

For the trained digits CNN (8x8 digits) and a MobileNetV2-style net (vaiq.zoo.tiny_mobilenet: inverted
residuals, depthwise convs, hard-swish head; 16 float epochs, Adam with cosine decay) on the digits
upscaled to 3x32x32, at 8 and
4 bits: float test accuracy, PTQ (calibrate + test mode), PTQ + fast finetune (filled only when
``torch_quantizer.fast_finetune`` exists in this build), QAT (accuracy of the deployable model, i.e.
test mode loaded from the QAT result), and the time of one training epoch, QAT beside float.

    .venv/bin/python scripts/bench_qat.py            # a few minutes on 2 CPU cores
"""
from __future__ import annotations

import copy
import tempfile
import time
import warnings

import click
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from vaiq import QatProcessor, torch_quantizer
from vaiq.zoo import evaluate, load_digits_split, tiny_mobilenet, train_digits_cnn


def upscale(x: torch.Tensor) -> torch.Tensor:
    """8x8 grey digits -> 3x32x32 (bilinear), for the MobileNetV2-style net."""
    return F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)


def train_epoch(model, x, y, opt, batch, gen) -> float:
    """One epoch of cross-entropy training; returns its wall time (s)."""
    model.train()
    order = torch.randperm(len(y), generator=gen)
    t0 = time.perf_counter()
    for i in range(0, len(order), batch):
        b = order[i:i + batch]
        opt.zero_grad()
        F.cross_entropy(model(x[b]), y[b]).backward()
        opt.step()
    return time.perf_counter() - t0


def ptq(model, x_cal, x_te, y_te, bits, folder, batch) -> tuple[float, str]:
    """PTQ accuracy, and PTQ + fast finetune accuracy."""
    q = torch_quantizer("calib", model, (x_cal[:1],), output_dir=folder, bitwidth=bits)
    with torch.no_grad():
        for i in range(0, len(x_cal), batch):
            q.quant_model(x_cal[i:i + batch])
    q.export_quant_config()
    acc = evaluate(torch_quantizer("test", model, (x_cal[:1],), output_dir=folder, bitwidth=bits).quant_model,
                   x_te, y_te)
    q = torch_quantizer("calib", model, (x_cal[:1],), output_dir=folder + "_ft", bitwidth=bits)

    def run(m, xs):
        with torch.no_grad():
            for i in range(0, len(xs), batch):
                m(xs[i:i + batch])
    q.fast_finetune(run, (q.quant_model, x_cal))
    run(q.quant_model, x_cal)
    q.export_quant_config()
    t = torch_quantizer("test", model, (x_cal[:1],), output_dir=folder + "_ft", bitwidth=bits)
    t.load_ft_param()
    ft = f"{100 * evaluate(t.quant_model, x_te, y_te):.2f}"
    return acc, ft


def qat(model, x_tr, y_tr, x_te, y_te, bits, folder, epochs, batch, lr_t, lr_w, seed, bn_epochs) -> tuple[float, float]:
    """QAT with the recommended recipe (docs/vaiq.md): warm-up on one batch, Adam with cosine decay,
    BatchNorm with batch statistics for ``bn_epochs`` epochs, then ``freeze_bn_stats()`` (training
    then runs the deployed fold). Returns the deployable model's accuracy and the fastest epoch with
    batch statistics (the costlier phase; the float epoch is the fastest of its epochs too)."""
    proc = QatProcessor(model, (x_tr[:1],), bitwidth=bits)
    qm = proc.trainable_model()
    opt = torch.optim.Adam([{"params": qm.quantizer_parameters(), "lr": lr_t},
                            {"params": qm.non_quantizer_parameters(), "lr": lr_w}])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    gen = torch.Generator().manual_seed(seed)
    qm.train()
    with torch.no_grad():
        qm(x_tr[:256])                     # warm-up: activation thresholds from one batch
    times = []
    for epoch in range(epochs):
        if epoch == bn_epochs:
            qm.freeze_bn_stats()
        t = train_epoch(qm, x_tr, y_tr, opt, batch, gen)
        if epoch < bn_epochs:
            times.append(t)
        sched.step()
    deployable = proc.to_deployable(qm, folder)
    return evaluate(deployable, x_te, y_te), min(times) if times else float("nan")


def train_float(model, x, y, epochs, lr, batch, seed) -> list[float]:
    """Adam with cosine decay; returns the epoch times."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    gen = torch.Generator().manual_seed(seed)
    times = []
    for _ in range(epochs):
        times.append(train_epoch(model, x, y, opt, batch, gen))
        sched.step()
    return times


@click.command()
@click.option("--qat-epochs", default=8, show_default=True, help="QAT epochs per model and bit width.")
@click.option("--bn-epochs", default=None, type=int, help="Epochs with BatchNorm batch statistics before "
              "freeze_bn_stats() [default: half the QAT epochs].")
@click.option("--batch", default=64, show_default=True)
@click.option("--qat-lr", default=1e-3, show_default=True, help="Adam learning rate of the weights in QAT.")
@click.option("--threshold-lr", default=1e-3, show_default=True, help="Adam learning rate of the thresholds.")
@click.option("--models", type=click.Choice(["all", "digits", "mobilenet"]), default="all", show_default=True)
@click.option("--seed", default=0, show_default=True)
def main(qat_epochs, bn_epochs, batch, qat_lr, threshold_lr, models, seed):
    torch.manual_seed(seed)
    warnings.filterwarnings("ignore")
    bn_epochs = qat_epochs // 2 if bn_epochs is None else bn_epochs
    console = Console(width=150)
    x_tr, y_tr, x_te, y_te = load_digits_split(seed)
    nets = []
    if models in ("all", "digits"):
        digits, _ = train_digits_cnn(epochs=10, seed=seed)
        nets.append(("digits CNN", digits.eval(), x_tr, x_te))
    if models in ("all", "mobilenet"):
        mx_tr, mx_te = upscale(x_tr), upscale(x_te)
        mnet = tiny_mobilenet(10, seed=seed)
        train_float(mnet, mx_tr, y_tr, 16, 3e-3, batch, seed)
        nets.append(("MobileNetV2-style (tiny_mobilenet, 3x32x32)", mnet.eval(), mx_tr, mx_te))

    table = Table(title=f"vaiq QAT ({qat_epochs} QAT epochs, BatchNorm frozen after {bn_epochs}, Adam lr weights "
                        f"{qat_lr} / thresholds {threshold_lr} with cosine decay, batch {batch}, digits test split "
                        f"of {len(y_te)})")
    for col in ("model", "bits", "float", "PTQ", "PTQ + fast finetune", "QAT", "float epoch (s)",
                "QAT epoch (s)", "QAT / float"):
        table.add_column(col, justify="left" if col == "model" else "right")
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, xtr, xte in nets:
            f_acc = evaluate(model, xte, y_te)
            f_model = copy.deepcopy(model)
            f_time = min(train_float(f_model, xtr, y_tr, 3, 5e-4, batch, seed))
            for bits in (8, 4):
                tag = f"{tmp}/{name.split()[0]}_{bits}"
                p_acc, ft_acc = ptq(model, xtr[:512], xte, y_te, bits, tag + "_ptq", batch)
                q_acc, q_time = qat(copy.deepcopy(model), xtr, y_tr, xte, y_te, bits, tag + "_qat",
                                    qat_epochs, batch, threshold_lr, qat_lr, seed, bn_epochs)
                console.log(f"{name}, {bits} bits: float {100 * f_acc:.2f}, PTQ {100 * p_acc:.2f}, "
                            f"QAT {100 * q_acc:.2f}")
                table.add_row(name, str(bits), f"{100 * f_acc:.2f}", f"{100 * p_acc:.2f}",
                              ft_acc,
                              f"{100 * q_acc:.2f}", f"{f_time:.3f}", f"{q_time:.3f}", f"{q_time / f_time:.1f}x")
    console.print(table)
    console.print("Epoch times: the fastest of 3 float epochs and the fastest QAT epoch with BatchNorm batch "
                  "statistics (wall clock; epochs after freeze_bn_stats() are cheaper).")
    console.print("QAT accuracy is the deployable model's (vaiq test mode loaded from the QAT result: "
                  "what the compiled model computes on the DPU emulator). Accuracies in %.")


if __name__ == "__main__":
    main()
