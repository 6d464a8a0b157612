"""How closely onnxruntime reproduces ``quant_model`` from ``<Net>_int.onnx`` (issue 11).

For each zoo model: calibrate on random data, export the ONNX file in each rounding mode
(``exact_rounding`` True / False), run it in onnxruntime on the CPU with the session options a user
gets (``default``: graph optimizations on, QDQ fusion into int8 kernels), with graph optimizations
off (``no-opt``) and with the QDQ fusion off (``no-qdq``: ``session.disable_quant_qdq = 1``), and
count the output elements that differ from ``quant_model`` by one quantization step and by two or
more (outputs without a fix position count steps of 1e-6).

Usage: python scripts/onnx_ort_agreement.py [--models tiny_resnet,inception_v3] [--batch 2]
       (default: every zoo model; the full-size ones take minutes each on two cores)
"""
from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import click
import numpy as np

SESSIONS = ("default", "no-opt", "no-qdq")


def session(path: Path, kind: str):
    import onnxruntime as ort
    so = ort.SessionOptions()
    if kind == "no-opt":
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    elif kind == "no-qdq":
        so.add_session_config_entry("session.disable_quant_qdq", "1")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def steps_off(q, outs, refs) -> np.ndarray:
    """|onnxruntime - quant_model| in quantization steps, all outputs flattened."""
    from vaiq.prepare import has_fix
    res = []
    for name, o, r in zip(q.graph.outputs, outs, refs):
        node = q.graph.node(name)
        step = 2.0 ** -q.table.get(name) if has_fix(node) else 1e-6
        res.append((np.abs(o.astype(np.float64) - r.double().numpy()) / step).ravel())
    return np.concatenate(res)


def measure(name: str, folder: Path, batch: int) -> list[tuple]:
    import torch
    from vaiq import torch_quantizer
    from vaiq.export_onnx import export_onnx
    from vaiq.zoo import MODELS, get_model
    spec = MODELS[name]
    model = get_model(name)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*spec.input_shape, generator=gen)
    q = torch_quantizer("calib", model, (x,), output_dir=str(folder))
    with torch.no_grad():
        for _ in range(2):
            q.quant_model(torch.randn(2, *spec.input_shape[1:], generator=gen))
    q.export_quant_config()
    q = torch_quantizer("test", model, (x,), output_dir=str(folder))
    xb = torch.randn(batch, *spec.input_shape[1:], generator=torch.Generator().manual_seed(7)) * 1.5
    with torch.no_grad():
        refs = q.quant_model(xb)
    refs = list(refs) if isinstance(refs, (tuple, list)) else [refs]
    rows = []
    for exact in (True, False):
        path = export_onnx(q, folder / ("exact" if exact else "plain"), dynamic_batch=True, exact_rounding=exact)
        for kind in SESSIONS:
            outs = session(path, kind).run(None, {q.graph.inputs[0]: xb.numpy()})
            err = steps_off(q, outs, refs)
            rows.append((name, "exact" if exact else "plain", kind, err.size,
                         int(np.count_nonzero((err > 0.5) & (err <= 1.5))), int(np.count_nonzero(err > 1.5)),
                         float(err.max())))
    return rows


@click.command()
@click.option("--models", default="", help="comma-separated zoo names (default: all)")
@click.option("--batch", default=2, show_default=True)
def main(models: str, batch: int) -> None:
    from rich.console import Console
    from rich.table import Table
    from vaiq.zoo import MODELS
    names = [m for m in models.split(",") if m] or list(MODELS)
    table = Table("model", "export", "session", "elements", "off by 1", "off by >=2", "max steps",
                  "within 1 step")
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    rows = measure(name, Path(tmp) / name, batch)
                except Exception as e:  # a model the export cannot hold is reported, the sweep goes on
                    console.print(f"{name}: {type(e).__name__}: {e}")
                    continue
            for r in rows:
                n, e, k, size, one, two, mx = r
                table.add_row(n, e, k, str(size), str(one), str(two), f"{mx:.2f}",
                              f"{100.0 * (size - two) / size:.3f}%")
                print("\t".join(str(v) for v in r), file=sys.stderr, flush=True)
    console.print(table)


if __name__ == "__main__":
    main()
