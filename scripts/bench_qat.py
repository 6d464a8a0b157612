"""Benchmark: quantization-aware training (vaiq.QatProcessor) against float and post-training quantization.

For the trained digits CNN (8x8 digits) and a MobileNetV2-style net (vaiq.zoo.tiny_mobilenet: inverted
residuals, depthwise convs, hard-swish head) trained briefly on the digits upscaled to 3x32x32, at 8 and
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


def qat(model, x_tr, y_tr, x_te, y_te, bits, folder, epochs, batch, lr_w, seed, freeze_bn) -> tuple[float, float]:
    """QAT accuracy (deployable model) and the fastest QAT epoch (steady state, the statistic the float
    epoch is given too)."""
    proc = QatProcessor(model, (x_tr[:1],), bitwidth=bits)
    qm = proc.trainable_model()
    opt = torch.optim.Adam([{"params": qm.quantizer_parameters(), "lr": 1e-2},
                            {"params": qm.non_quantizer_parameters(), "lr": lr_w}])
    gen = torch.Generator().manual_seed(seed)
    qm.train()
    if freeze_bn:
        qm.freeze_bn_stats()
    with torch.no_grad():
        qm(x_tr[:256])                     # warm-up: activation thresholds from one batch
    times = [train_epoch(qm, x_tr, y_tr, opt, batch, gen) for _ in range(epochs)]
    deployable = proc.to_deployable(qm, folder)
    return evaluate(deployable, x_te, y_te), min(times)


@click.command()
@click.option("--qat-epochs", default=4, show_default=True, help="QAT epochs per model and bit width.")
@click.option("--batch", default=64, show_default=True)
@click.option("--qat-lr", default=5e-4, show_default=True, help="Adam learning rate of the weights in QAT "
              "(thresholds: 1e-2).")
@click.option("--freeze-bn/--no-freeze-bn", default=False, show_default=True,
              help="Fold BatchNorm with running statistics during QAT (freeze_bn_stats()).")
@click.option("--models", type=click.Choice(["all", "digits", "mobilenet"]), default="all", show_default=True)
@click.option("--seed", default=0, show_default=True)
def main(qat_epochs, batch, qat_lr, freeze_bn, models, seed):
    torch.manual_seed(seed)
    warnings.filterwarnings("ignore")
    console = Console()
    x_tr, y_tr, x_te, y_te = load_digits_split(seed)
    nets = []
    if models in ("all", "digits"):
        digits, _ = train_digits_cnn(epochs=10, seed=seed)
        nets.append(("digits CNN", digits.eval(), x_tr, x_te))
    if models in ("all", "mobilenet"):
        mx_tr, mx_te = upscale(x_tr), upscale(x_te)
        mnet = tiny_mobilenet(10, seed=seed)
        opt = torch.optim.Adam(mnet.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(8):
            train_epoch(mnet, mx_tr, y_tr, opt, batch, gen)
        nets.append(("MobileNetV2-style (tiny_mobilenet, 3x32x32)", mnet.eval(), mx_tr, mx_te))

    table = Table(title=f"vaiq QAT ({qat_epochs} QAT epochs, weight lr {qat_lr}, "
                        f"{'BatchNorm frozen, ' if freeze_bn else ''}batch {batch}, digits test split of {len(y_te)})")
    for col in ("model", "bits", "float", "PTQ", "PTQ + fast finetune", "QAT", "float epoch (s)",
                "QAT epoch (s)", "QAT / float"):
        table.add_column(col, justify="left" if col == "model" else "right")
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, xtr, xte in nets:
            f_acc = evaluate(model, xte, y_te)
            f_model = copy.deepcopy(model)
            f_opt = torch.optim.Adam(f_model.parameters(), lr=5e-4)
            f_gen = torch.Generator().manual_seed(seed)
            f_time = min(train_epoch(f_model, xtr, y_tr, f_opt, batch, f_gen) for _ in range(2))
            for bits in (8, 4):
                tag = f"{tmp}/{name.split()[0]}_{bits}"
                p_acc, ft_acc = ptq(model, xtr[:512], xte, y_te, bits, tag + "_ptq", batch)
                q_acc, q_time = qat(copy.deepcopy(model), xtr, y_tr, xte, y_te, bits, tag + "_qat",
                                    qat_epochs, batch, qat_lr, seed, freeze_bn)
                console.log(f"{name}, {bits} bits: float {100 * f_acc:.2f}, PTQ {100 * p_acc:.2f}, "
                            f"QAT {100 * q_acc:.2f}")
                table.add_row(name, str(bits), f"{100 * f_acc:.2f}", f"{100 * p_acc:.2f}",
                              ft_acc,
                              f"{100 * q_acc:.2f}", f"{f_time:.3f}", f"{q_time:.3f}", f"{q_time / f_time:.1f}x")
    console.print(table)
    console.print("QAT accuracy is the deployable model's (vaiq test mode loaded from the QAT result: "
                  "what the compiled model computes on the DPU emulator). Accuracies in %.")


if __name__ == "__main__":
    main()
