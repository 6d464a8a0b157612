"""``vaiq``: the quantizer's command line (quantize, test, inspect).

    vaiq quantize --model model.py:Net --input-shape 1,3,224,224 --calib-data calib/ --output quantize_result
    vaiq test     --model model.py:Net --input-shape 1,3,224,224 --data val.npz --output quantize_result
    vaiq inspect  --model zoo:tiny_resnet --target DPUCZDX8G/KV260 --json nodes.json
    vaiq quantize --model model.onnx --calib-data calib/ --target DPUCZDX8G/KV260

Exit codes (DESIGN §7): 0 success, 1 the job failed (an internal error), 2 bad usage or bad input.
Errors are one line on stderr; ``--debug`` adds the traceback. Results are written to a temporary
folder beside ``--output`` and moved into it only when every step succeeded, so a failed run leaves
the output folder as it was.
"""
from __future__ import annotations

import functools
import io
import json
import logging
import sys
import tempfile
import traceback
import warnings
from contextlib import contextmanager, redirect_stderr
from pathlib import Path

import click
import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from torch.utils._pytree import tree_flatten

from xir.cli import OneLineGroup, one_line as _one_line
from xir.errors import XirError
from xir.files import Staging, prepare_directory, write_atomic
from xir.target import TargetError

from . import __version__
from .api import torch_quantizer
from .calib import METHODS
from .cli_data import DataSet, open_data
from .cli_model import LoadedModel, is_onnx, load_model, load_onnx_model, parse_shape, shape_text
from .config import load_config
from .errors import VaiqError
from .cli_inspect import inspect_rows, summary as placement_summary

# ---------------------------------------------------------------------------------------- plumbing


FT_SIZE = 256    # --ft-size default: enough samples for stable layer statistics, minutes on a CPU




def _guarded(name: str):
    """Run a command: user errors -> one line + exit 2, anything else -> one line + exit 1;
    ``--debug`` prints the traceback first. Warnings raised by vaiq become one-line notes."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            debug = kwargs.get("debug", False)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    with _torch_quiet(debug):
                        fn(*args, **kwargs)
                except (VaiqError, TargetError, XirError) as e:
                    _fail(name, str(e), 2, debug)
                except SystemExit as e:     # our commands never exit from inside: the model's code did
                    _fail(name, f"the model's code called sys.exit({e.code!r}); a model must not exit the "
                                "process (remove the call or guard it with `if __name__ == \"__main__\":`)", 2, debug)
                except (KeyboardInterrupt, click.Abort):
                    _fail(name, "interrupted", 1, debug)
                except Exception as e:
                    _fail(name, f"internal error: {type(e).__name__}: {e} (run with --debug for the traceback)",
                          1, debug)
            _show_warnings(name, caught, debug)
        return run
    return wrap


@contextmanager
def _torch_quiet(debug: bool):
    """Keep torch's own diagnostics (export failures print graphs to stderr, log warnings) off stderr;
    the error they lead to is reported in one line. ``--debug`` lets them through."""
    if debug:
        yield
        return
    torch_log = logging.getLogger("torch")
    level = torch_log.level
    torch_log.setLevel(logging.ERROR)
    try:
        with redirect_stderr(io.StringIO()):
            yield
    finally:
        torch_log.setLevel(level)


def _fail(name: str, message: str, code: int, debug: bool):
    if debug:
        traceback.print_exc()
    click.echo(f"vaiq {name}: error: {_one_line(message)}", err=True)
    sys.exit(code)


def _show_warnings(name: str, caught, debug: bool) -> None:
    seen = set()
    package = str(Path(__file__).resolve().parent)
    for w in caught:
        text = _one_line(str(w.message))
        if text in seen or not (debug or str(Path(w.filename).resolve()).startswith(package)):
            continue
        seen.add(text)
        click.echo(f"vaiq {name}: warning: {text}", err=True)


@contextmanager
def _progress(quiet: bool, total: int, label: str):
    """A rich progress bar over ``total`` steps on a terminal; silent otherwise. Yields advance()."""
    console = Console()
    if quiet or not console.is_terminal:
        yield lambda: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


def _say(quiet: bool, text: str = "") -> None:
    if not quiet:
        click.echo(text)


# ---------------------------------------------------------------------------------------- options

def _model_options(fn):
    opts = [
        click.option("--model", "model_spec", required=True, metavar="FILE.py:NAME|zoo:NAME|FILE.onnx",
                     help="The float model: an nn.Module class or factory in a Python file, a zoo model, "
                          "or an ONNX model (opset 13 or newer)."),
        click.option("--weights", type=click.Path(path_type=Path), default=None,
                     help="State dict to load (torch.load weights_only=True; 'state_dict'/'model' unwrapped)."),
        click.option("--input-shape", "input_shape", default=None, metavar="[NAME:]N,C,H,W",
                     help="Shape of the example input, batch first (zoo and ONNX models default to theirs; "
                          "NAME: the ONNX input it fixes)."),
        click.option("--config", "config", type=click.Path(path_type=Path), default=None,
                     help="Quant config JSON (pytorch_nndct's quant_config_file)."),
        click.option("--target", default=None,
                     help="Target: FAMILY/BOARD, target name, fingerprint or arch.json; only the ops its DPU runs "
                          "are quantized (default: $NNDCT_TARGET, else all)."),
        click.option("--dynamo", is_flag=True,
                     help="pytorch_nndct's dynamo=True (capture is torch.export either way)."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary (errors only)."),
        click.option("--debug", is_flag=True, help="Show the traceback of an error."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _export_options(fn):
    fn = click.option("--torchscript/--no-torchscript", "torchscript", default=True,
                      help="Write <Net>_int.pt (TorchScript).")(fn)
    fn = click.option("--onnx-rounding", type=click.Choice(["exact", "qdq"]), default="exact", show_default=True,
                      help="exact: onnxruntime reproduces quant_model bit for bit, default session options "
                           "included (Floor before each QuantizeLinear, dense layers as 1x1 Conv); qdq: plain "
                           "Q/DQ pairs that int8 back ends fuse (ties differ).")(fn)
    return click.option("--onnx/--no-onnx", "onnx", default=True, help="Write <Net>_int.onnx.")(fn)


def _load(model_spec: str, weights, input_shape) -> LoadedModel:
    if is_onnx(model_spec):
        return load_onnx_model(model_spec, weights, input_shape)
    shape = parse_shape(input_shape) if input_shape else None
    return load_model(model_spec, weights, shape)


def _config_file(config: Path | None, method: str | None, folder: Path) -> Path | None:
    """The quant config to pass on: the user's, or a copy of it with ``method`` set everywhere."""
    if config is not None:
        load_config(config)   # report problems against the user's own file
    if method is None:
        return config
    data = json.loads(config.read_text()) if config is not None else {}
    data.setdefault("overall_quantize_config", {})["method"] = method
    for entry in data.get("tensor_quantize_config", {}).values():
        if "method" in entry:
            entry["method"] = method
    path = folder / "quant_config.json"
    path.write_text(json.dumps(data))
    return path


def _leaves(out) -> list[torch.Tensor]:
    return [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]


def _counts(graph) -> dict:
    ops = [n for n in graph.nodes if n.kind != "input"]
    return {"ops": len(ops), "own": sum(n.quant == "own" for n in ops),
            "shared": sum(n.quant == "shared" for n in ops), "float": [n for n in ops if n.quant == "float"]}


def _summary_ops(graph) -> str:
    c = _counts(graph)
    text = (f"ops: {c['own'] + c['shared']} of {c['ops']} quantized ({c['own']} own fix position, "
            f"{c['shared']} sharing their input's), {len(c['float'])} float")
    if c["float"]:
        names = ", ".join(f"{n.name} ({n.kind})" for n in c["float"][:6])
        text += f": {names}" + (f" and {len(c['float']) - 6} more" if len(c["float"]) > 6 else "")
    return text


class _Compare:
    """Float vs quantized outputs: max/mean absolute difference, and accuracy or MSE against labels."""

    def __init__(self, label_mode: str | None = None):
        self.mode = label_mode
        self.max_abs, self.sum_abs, self.count = 0.0, 0.0, 0
        self.score = {"float": 0.0, "quantized": 0.0}
        self.samples = 0

    def update(self, f_out, q_out, y: np.ndarray | None = None) -> None:
        fs, qs = _leaves(f_out), _leaves(q_out)
        for f, q in zip(fs, qs):
            d = (f.double() - q.double()).abs()
            self.max_abs = max(self.max_abs, float(d.max()) if d.numel() else 0.0)
            self.sum_abs += float(d.sum())
            self.count += d.numel()
        if self.mode is None or y is None:
            return
        self.samples += len(y)
        for key, out in (("float", fs[0]), ("quantized", qs[0])):
            out = out.detach().double()
            if self.mode == "mse":
                t = torch.as_tensor(np.asarray(y, dtype=np.float64)).reshape(out.shape)
                self.score[key] += float(((out - t) ** 2).sum() / out[0].numel())
            else:
                want = np.asarray(y).reshape(len(y), -1)
                want = want.argmax(axis=1) if self.mode == "onehot" else want[:, 0]
                self.score[key] += float((out.argmax(dim=1).numpy() == want).sum())

    def lines(self) -> list[str]:
        mean = self.sum_abs / self.count if self.count else 0.0
        out = [f"float vs quantized output: max |diff| {self.max_abs:.6g}, mean |diff| {mean:.6g}"]
        if self.mode and self.samples:
            f, q = (self.score[k] / self.samples for k in ("float", "quantized"))
            if self.mode == "mse":
                out.append(f"MSE against labels y: float {f:.6g}, quantized {q:.6g}")
            else:
                out.append(f"accuracy on {self.samples} samples: float {100 * f:.2f}%, quantized {100 * q:.2f}%")
        return out


def _label_mode(data: DataSet, float_output) -> str | None:
    """How labels compare with the (first) model output: 'index' | 'onehot' | 'mse' (None: no labels)."""
    y = data.labels
    if y is None:
        return None
    out = _leaves(float_output)[0]
    per, yper = tuple(out.shape[1:]), tuple(y.shape[1:])
    classes = per[0] if len(per) == 1 and per[0] >= 2 else None
    if classes and y.dtype.kind in "biu" and yper in ((), (1,)):
        if y.min() < 0 or y.max() >= classes:
            raise VaiqError(f"{data.path}: labels 'y' range over {y.min()}..{y.max()}, but the model has "
                            f"{classes} outputs (class indices 0..{classes - 1})")
        return "index"
    if classes and yper == per and np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all():
        return "onehot"
    if int(np.prod(yper)) == int(np.prod(per)):
        return "mse"
    raise VaiqError(f"{data.path}: labels 'y' of shape {shape_text(y.shape)} are neither class indices nor "
                    f"targets of the model's output shape {shape_text(per)} per sample")


# ---------------------------------------------------------------------------------------- commands

@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vaiq", message="%(prog)s %(version)s")
def cli():
    """Quantize PyTorch models to int8 for DPU targets (pytorch_nndct's flow on the command line)."""


@cli.command("quantize")
@_model_options
@click.option("--calib-data", "calib_data", required=True, type=click.Path(path_type=Path),
              help="Calibration samples: a folder of images, a .npy or a .npz (key x).")
@click.option("--calib-size", type=click.IntRange(min=1), default=None, help="Use the first N samples.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--output", "output", type=click.Path(path_type=Path), default=Path("quantize_result"),
              show_default=True, help="Folder for quant_info.json and the exported models.")
@click.option("--bitwidth", type=click.IntRange(4, 16), default=None, help="Bit width of weights and activations [8].")
@click.option("--method", type=click.Choice(list(METHODS)), default=None,
              help="Calibration method [diffs, or the config file's].")
@click.option("--fast-finetune", "fast_finetune", is_flag=True,
              help="AdaQuant before calibration: adjust conv/dense weights layer by layer (writes param.pth).")
@click.option("--ft-size", type=click.IntRange(min=1), default=FT_SIZE, show_default=True,
              help="Calibration samples (the first N) used by --fast-finetune.")
@_export_options
@_guarded("quantize")
def quantize_cmd(model_spec, weights, input_shape, config, target, dynamo, quiet, debug, calib_data, calib_size,
             batch_size, output, bitwidth, method, fast_finetune, ft_size, onnx, onnx_rounding, torchscript):
    """Calibrate, write quant_info.json, then export the quantized model (test mode on one batch)."""
    lm = _load(model_spec, weights, input_shape)
    data = open_data(calib_data, lm.input_shape[1:], calib_size)
    example = (torch.zeros(lm.input_shape),)
    with tempfile.TemporaryDirectory(prefix="vaiq-cfg-") as cfg_dir, Staging(output) as stage:
        tmp = stage.path
        cfg = _config_file(config, method, Path(cfg_dir))
        q = torch_quantizer("calib", lm.model, example, output_dir=tmp, bitwidth=bitwidth,
                            quant_config_file=cfg, target=target, dynamo=dynamo)
        if fast_finetune:
            _finetune(q, data, ft_size, batch_size, quiet)
        first = None
        with torch.no_grad(), _progress(quiet, data.num_batches(batch_size), "calibrating") as advance:
            for x, _ in data.batches(batch_size):
                first = x if first is None else first
                q.quant_model(x)
                advance()
        q.export_quant_config()
        qt = torch_quantizer("test", lm.model, example, output_dir=tmp, bitwidth=bitwidth,
                             quant_config_file=cfg, target=target, dynamo=dynamo)
        if fast_finetune:
            qt.load_ft_param()
        cmp = _Compare()
        with torch.no_grad():
            cmp.update(lm.model(first), qt.quant_model(first))
        _export(qt, tmp, onnx and onnx_rounding, torchscript, deploy_check=False)
        written = stage.commit()
    _say(quiet, f"{qt.graph.name} ({lm.spec}), input {shape_text(lm.input_shape)}, "
                f"{q.config.bits_a}-bit, method {q.config.method}")
    _say(quiet, f"calibrated on {data.n} sample(s) from {data.path} in {data.num_batches(batch_size)} batch(es)")
    _say(quiet, _summary_ops(qt.graph))
    if q.ft_report is not None:
        _say(quiet, _ft_summary(q.ft_report))
    _say(quiet, cmp.lines()[0].replace("output:", "output on the first batch:"))
    for p in written:
        _say(quiet, f"wrote {p}")


def _finetune(q, data: DataSet, ft_size: int, batch_size: int, quiet: bool) -> None:
    """Fast finetune on the first ``ft_size`` calibration samples, one progress bar per layer."""
    n = min(ft_size, data.n)

    def feed():
        seen = 0
        with torch.no_grad():
            for x, _ in data.batches(batch_size):
                x = x[:n - seen]
                q.quant_model(x)
                seen += len(x)
                if seen >= n:
                    break
    q.fast_finetune(feed, (), progress=lambda label, total: _progress(quiet, total, label))


def _ft_summary(r) -> str:
    if not r.layers:
        return "fast finetune: the model has no quantized conv or dense layer (nothing changed)"
    kept = sum(lr.kept > 0 for lr in r.layers)
    return (f"fast finetune on {r.samples} sample(s): {kept} of {len(r.layers)} layer(s) changed, end-of-network "
            f"MSE {r.layers[0].error_before:.6g} -> {r.layers[-1].error_after:.6g}"
            + (" (cache streamed to disk)" if r.on_disk else ""))


def _export(qt, folder: Path, onnx: str | None, torchscript: bool, deploy_check: bool) -> None:
    """Write the deploy xmodel, then ONNX (``onnx``: its rounding, "exact" or "qdq"; falsy: none) and
    TorchScript."""
    qt.export_xmodel(output_dir=folder, deploy_check=deploy_check)
    if onnx:
        qt.export_onnx_model(output_dir=folder, exact_rounding=onnx == "exact")
    if torchscript:
        qt.export_torch_script(output_dir=folder)


@cli.command("test")
@_model_options
@click.option("--output", "output", type=click.Path(path_type=Path), default=Path("quantize_result"),
              show_default=True, help="Folder holding quant_info.json; the exports are written there.")
@click.option("--data", "data_path", type=click.Path(path_type=Path), default=None,
              help="Evaluation samples (folder of images, .npy, .npz with optional labels y).")
@click.option("--data-size", type=click.IntRange(min=1), default=None, help="Use the first N samples.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--deploy-check", is_flag=True, help="Also dump per-layer int8 data (deploy_check_data_int/).")
@_export_options
@_guarded("test")
def test_cmd(model_spec, weights, input_shape, config, target, dynamo, quiet, debug, output, data_path, data_size,
         batch_size, deploy_check, onnx, onnx_rounding, torchscript):
    """Test mode from an existing quant_info.json: evaluate (optional) and export."""
    lm = _load(model_spec, weights, input_shape)
    data = open_data(data_path, lm.input_shape[1:], data_size) if data_path is not None else None
    mode = _label_mode(data, lm.float_output) if data is not None else None
    info = Path(output) / "quant_info.json"
    if not info.is_file():
        raise VaiqError(f"{info}: no such file; run 'vaiq quantize' with --output {output} first")
    if config is not None:
        load_config(config)
    example = (torch.zeros(lm.input_shape),)
    with Staging(output) as stage:
        qt = torch_quantizer("test", lm.model, example, output_dir=output, quant_config_file=config,
                             target=target, dynamo=dynamo)
        if qt.ft_expected:
            qt.load_ft_param()
        cmp = _Compare(mode)
        with torch.no_grad():
            if data is not None:
                first = None
                with _progress(quiet, data.num_batches(batch_size), "evaluating") as advance:
                    for x, y in data.batches(batch_size):
                        first = x[:1] if first is None else first
                        cmp.update(lm.model(x), qt.quant_model(x), y)
                        advance()
                if deploy_check:
                    qt.quant_model(first)      # the per-layer dumps show the first sample
            else:
                x = torch.rand(lm.input_shape, generator=torch.Generator().manual_seed(0))
                cmp.update(lm.model(x), qt.quant_model(x))
        _export(qt, stage.path, onnx and onnx_rounding, torchscript, deploy_check)
        written = stage.commit()
    _say(quiet, f"{qt.graph.name} ({lm.spec}), input {shape_text(lm.input_shape)}, fix positions from {info}")
    _say(quiet, _summary_ops(qt.graph))
    if data is not None:
        _say(quiet, f"evaluated {data.n} sample(s) from {data.path}")
    else:
        _say(quiet, "no --data: compared on one seeded random input in [0, 1)")
    for line in cmp.lines():
        _say(quiet, line)
    for p in written:
        _say(quiet, f"wrote {p}")


# ---------------------------------------------------------------------------------------- inspect

def _write_json(path: Path, data) -> None:
    prepare_directory(Path(path).absolute().parent)
    write_atomic(path, (json.dumps(data, indent=1) + "\n").encode())


@cli.command("inspect")
@_model_options
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="Also write the table as JSON to this file.")
@_guarded("inspect")
def inspect_cmd(model_spec, weights, input_shape, config, target, dynamo, quiet, debug, json_path):
    """Every node of the captured graph: op, scope, quantized/shared/float and why, fused activation;
    with --target also whether the target's limits put it on the DPU."""
    lm = _load(model_spec, weights, input_shape)
    q = torch_quantizer("float", lm.model, (torch.zeros(lm.input_shape),), quant_config_file=config,
                        target=target, dynamo=dynamo)
    t = q.target
    rows = inspect_rows(q.graph, t)
    ops = [r for r in rows if r["kind"] != "input"]
    summary = {"ops": len(ops), "own": sum(r["quant"] == "own" for r in ops),
               "shared": sum(r["quant"] == "shared" for r in ops), "float": sum(r["quant"] == "float" for r in ops)}
    lines = []
    if t is not None:
        summary["dpu"] = sum(r["device"] == "DPU" for r in ops)
        summary["cpu"] = sum(r["device"] == "CPU" for r in ops)
        lines = placement_summary(q.graph, rows)
        summary["dpu_subgraphs"] = int(lines[0].split(": ", 1)[1].split()[0])
        summary["placement_summary"] = lines
    report = {"model": q.graph.name, "spec": lm.spec, "input_shape": list(lm.input_shape),
              "target": None if t is None else (t.key or t.name),
              "fingerprint": None if t is None else t.fingerprint_hex, "summary": summary, "nodes": rows}
    if json_path is not None:
        _write_json(json_path, report)
    if quiet:
        return
    console = Console(width=None if Console().is_terminal else 200)
    table = Table(title=f"{q.graph.name} ({lm.spec}), input {shape_text(lm.input_shape)}"
                        + (f", target {report['target']}" if t is not None else ""))
    for col in ("#", "node", "op", "scope", "quant", "act", "why") + (("device", "device: why") if t else ()):
        table.add_column(col, overflow="fold")
    for i, r in enumerate(rows):
        cells = [str(i), r["name"], r["kind"], r["scope"], r["quant"], r["act"] or "", r["reason"]]
        if t is not None:
            cells += [r["device"], r["device_reason"]]
        table.add_row(*cells)
    console.print(table)
    line = (f"{summary['ops']} ops: {summary['own']} own fix position, {summary['shared']} shared, "
            f"{summary['float']} float")
    if t is not None:
        line += f"; on {report['target']}: {summary['dpu']} DPU, {summary['cpu']} CPU (estimate; vaic decides)"
    console.print(line)
    for text in lines:
        console.print(text, markup=False, highlight=False)
    if json_path is not None:
        console.print(f"wrote {json_path}")


def main(argv=None):
    """Console-script entry point (``vaiq = "vaiq.cli:main"``)."""
    cli.main(args=argv, prog_name="vaiq")


if __name__ == "__main__":
    main()
