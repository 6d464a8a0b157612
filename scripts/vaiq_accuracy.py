"""PTQ fidelity of vaiq on three trained models, beside AMD Quark's XINT8 (issue 11's benchmark).

Models: the digits CNN (scikit-learn's 8x8 digits), a MobileNetV2-style net trained on the digits
upscaled to 3x32x32 (vaiq.zoo.digits.train_digits_mobilenet) and the tutorial FFN (synthetic
regression). For each: the float metric (test accuracy, or test MSE for the FFN), then for every
calibration method (diffs, maxmin, mse, percentile) with and without bias correction and CLE: the
metric of the int8 model (vaiq test mode, bit-exact with the DPU) and the SQNR of its outputs against
the float outputs over the test set, 10 log10(sum f^2 / sum (q - f)^2) dB; fast finetune alone and on
top of the defaults.
With --with-quark, AMD Quark's ONNX XINT8 (int8, symmetric, power-of-two scales, MinMSE) on the same
float model (exported to ONNX) and the same calibration data, run by scripts/quark_xint8.py in a
separate virtual environment (created on first use under ~/.cache/vitis-ai-py/quark-venv, pip-installing
amd-quark and onnxruntime; it is not a dependency of this project).

Usage: python scripts/vaiq_accuracy.py [--seed 0] [--calib 500] [--models digits,mobilenet,ffn] [--with-quark]
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from vaiq import torch_quantizer
from vaiq.calib import METHODS
from vaiq.config import QuantConfig
from vaiq.zoo.digits import load_digits_split, train_digits_cnn, train_digits_mobilenet, upscale_digits

ROOT = Path(__file__).resolve().parent.parent
QUARK_VENV = Path(os.environ.get("VAI_QUARK_VENV", Path.home() / ".cache" / "vitis-ai-py" / "quark-venv"))
QUARK_PACKAGES = ["amd-quark", "onnxruntime", "onnx"]
TORCH_PIN = "torch==2.13.0"     # the same CPU build as the project's (an unpinned one pulls CUDA wheels)
console = Console()


@dataclass
class Task:
    """A trained model, its calibration and test inputs, and how to score outputs."""
    name: str
    model: torch.nn.Module
    calib: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    metric: str                      # "accuracy" or "mse"

    def score(self, out: torch.Tensor) -> float:
        if self.metric == "accuracy":
            return float((out.argmax(1) == self.y_test).float().mean()) * 100.0
        return float(((out.reshape(self.y_test.shape) - self.y_test) ** 2).mean())

    def show(self, v: float) -> str:
        return f"{v:.2f} %" if self.metric == "accuracy" else f"{v:.6f}"


def sqnr_db(ref: torch.Tensor, out: torch.Tensor) -> float:
    noise = float(((out.double() - ref.double()) ** 2).sum())
    return math.inf if noise == 0 else 10.0 * math.log10(float((ref.double() ** 2).sum()) / noise)


def _run(model, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch]).float() for i in range(0, len(x), batch)])


def vaiq_outputs(task: Task, method: str, bias_corr: bool, cle: bool, finetune: bool = False) -> torch.Tensor:
    """Calibrate with the given switches (a quant config file), then test mode's outputs on the test set."""
    out = tempfile.mkdtemp(prefix="vaiq-acc-")
    cfg = Path(out) / "config.json"
    cfg.write_text(json.dumps({"include_bias_corr": bias_corr, "include_cle": cle,
                               "overall_quantize_config": {"method": method}}))
    ex = (task.calib[:1],)
    q = torch_quantizer("calib", task.model, ex, output_dir=out, quant_config_file=str(cfg))
    if finetune:      # pytorch_nndct's API: fast_finetune(run_fn, run_args), then load_ft_param() in test mode
        q.fast_finetune(_run, (q.quant_model, task.calib))
    with torch.no_grad():
        for i in range(0, len(task.calib), 100):
            q.quant_model(task.calib[i:i + 100])
    q.export_quant_config()
    t = torch_quantizer("test", task.model, ex, output_dir=out, quant_config_file=str(cfg))
    if finetune:
        t.load_ft_param()
    return _run(t.quant_model, task.x_test)


# -- the models --------------------------------------------------------------------------------------
def digits_task(seed: int, n_calib: int) -> Task:
    model, _ = train_digits_cnn(seed=seed)
    xtr, _, xte, yte = load_digits_split(seed=seed)
    return Task("digits_cnn", model.eval(), xtr[:n_calib], xte, yte, "accuracy")


def mobilenet_task(seed: int, n_calib: int) -> Task:
    model, _ = train_digits_mobilenet(seed=seed)
    xtr, _, xte, yte = load_digits_split(seed=seed)
    return Task("mobilenet_v2 (digits 32x32)", model.eval(), upscale_digits(xtr[:n_calib]), upscale_digits(xte),
                yte, "accuracy")


def _load(name: str, path: Path):
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # the tutorial scripts import their neighbours
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def ffn_task(seed: int, n_calib: int, epochs: int = 40) -> Task:
    """The tutorial: data (seed 42 as in the original), training; metric test MSE."""
    gen = _load("ffn_generate_data", ROOT / "examples" / "ffn" / "generate_data.py")
    run = _load("ffn_run", ROOT / "examples" / "ffn" / "run.py")
    d = Path(tempfile.mkdtemp())
    x, y = gen.make_data(10000, 42)
    gen.write_split(x, y, d)
    xtr, ytr = run.load_split(d, "train")
    xte, yte = run.load_split(d, "test")
    model = run.train(xtr, ytr, epochs=epochs, seed=42)
    return Task("ffn (tutorial)", model.eval(), xtr[:n_calib], xte, yte, "mse")


TASKS = {"digits": digits_task, "mobilenet": mobilenet_task, "ffn": ffn_task}


# -- AMD Quark ---------------------------------------------------------------------------------------
def quark_python(install: bool) -> Path:
    """The Quark venv's interpreter, created and filled on first use when ``install``."""
    py = QUARK_VENV / "bin" / "python"
    ok = py.exists() and subprocess.run([str(py), "-c", "import quark.onnx, onnxruntime"],
                                        capture_output=True).returncode == 0
    if ok:
        return py
    if not install:
        raise click.ClickException(f"no AMD Quark environment at {QUARK_VENV}")
    console.print(f"creating the AMD Quark environment in {QUARK_VENV} (pip install {' '.join(QUARK_PACKAGES)})")
    venv.create(QUARK_VENV, with_pip=True)
    for pkgs in ([TORCH_PIN], QUARK_PACKAGES):
        r = subprocess.run([str(py), "-m", "pip", "install", "--quiet", *pkgs], capture_output=True, text=True)
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
            raise click.ClickException(f"pip could not install {' '.join(pkgs)} into {QUARK_VENV}: "
                                       + " | ".join(tail))
    return py


def quark_outputs(task: Task, py: Path) -> torch.Tensor:
    """Quark XINT8 of the float model (ONNX) calibrated on task.calib; outputs on the test set."""
    d = Path(tempfile.mkdtemp(prefix="vaiq-quark-"))
    onnx_path = d / "float.onnx"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # the TorchScript-based exporter is deprecated, and enough here
        torch.onnx.export(task.model, (task.calib[:1],), str(onnx_path), dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=17)
    np.save(d / "calib.npy", task.calib.numpy())
    np.save(d / "test.npy", task.x_test.numpy())
    r = subprocess.run([str(py), str(ROOT / "scripts" / "quark_xint8.py"), str(onnx_path), str(d / "calib.npy"),
                        str(d / "test.npy"), str(d)], capture_output=True, text=True, cwd=d)  # Quark writes a csv to cwd
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-5:]
        raise click.ClickException(f"Quark XINT8 failed on {task.name}: " + " | ".join(tail))
    return torch.from_numpy(np.load(d / "quark_logits.npy")).float()


# -- the table -------------------------------------------------------------------------------------------
def variants():
    for method in METHODS:
        for bc in (False, True):
            for cle in (False, True):
                yield method, bc, cle, False
    d = QuantConfig()
    yield d.method, False, False, True                          # fast finetune alone
    yield d.method, d.include_bias_corr, d.include_cle, True    # the defaults + fast finetune


def label(method: str, bc: bool, cle: bool, ft: bool) -> str:
    d = QuantConfig()
    parts = [method] + (["+bias corr"] if bc else []) + (["+CLE"] if cle else []) + (["+fast finetune"] if ft else [])
    default = (method, bc, cle) == (d.method, d.include_bias_corr, d.include_cle) and not ft
    return " ".join(parts) + (" (default)" if default else "")


@click.command()
@click.option("--seed", default=0, show_default=True)
@click.option("--calib", "n_calib", default=500, show_default=True, help="calibration samples")
@click.option("--models", default="digits,mobilenet,ffn", show_default=True, help="comma-separated: " + ",".join(TASKS))
@click.option("--with-quark", is_flag=True, help="also AMD Quark XINT8 (creates its own venv on first use)")
def main(seed: int, n_calib: int, models: str, with_quark: bool) -> None:
    names = [m.strip() for m in models.split(",") if m.strip()]
    bad = [m for m in names if m not in TASKS]
    if bad:
        raise click.BadParameter(f"unknown model(s) {bad}; choose from {list(TASKS)}", param_hint="--models")
    py = quark_python(install=True) if with_quark else None
    table = Table(title=f"vaiq PTQ fidelity (seed {seed}, {n_calib} calibration samples)")
    for col in ("model", "quantizer", "metric", "change", "SQNR dB"):
        table.add_column(col, justify="right" if col != "quantizer" else "left")
    for name in names:
        task = TASKS[name](seed, n_calib)
        ref = _run(task.model, task.x_test)
        f = task.score(ref)
        table.add_row(task.name, "float", task.show(f), "", "")
        for method, bc, cle, ft in variants():
            out = vaiq_outputs(task, method, bc, cle, ft)
            v = task.score(out)
            change = f"{v - f:+.2f} pt" if task.metric == "accuracy" else f"{(v / f - 1) * 100:+.1f} %"
            table.add_row("", "vaiq " + label(method, bc, cle, ft), task.show(v), change, f"{sqnr_db(ref, out):.2f}")
        if py is not None:
            out = quark_outputs(task, py)
            v = task.score(out)
            change = f"{v - f:+.2f} pt" if task.metric == "accuracy" else f"{(v / f - 1) * 100:+.1f} %"
            table.add_row("", "AMD Quark XINT8 (ONNX)", task.show(v), change, f"{sqnr_db(ref, out):.2f}")
        table.add_section()
    console.print(table)


if __name__ == "__main__":
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    main()
