"""``WegoModule.save`` / ``wego_torch.load``: one zip file holding everything a fresh process needs.

Rule: the file holds the float model as a ``torch.export`` program (``program.pt2``; no Python class
is needed to load it), the quantization result (``quant_result/``: quant_info.json, and bias_corr.pth
when the biases were corrected) and vaic's compiled model (``compiled/``: ``wego.xmodel``,
``md5sum.txt``, ``meta.json``) with ``wego.json`` describing them. Loading re-captures the program with vaiq, seeds a private compile cache with the saved compiled
model (used when its key matches; else the model is compiled again, with the same result) and
builds the same plan, so the outputs are identical. The file is written atomically.
"""
from __future__ import annotations

import io
import json
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import torch

from vaiq.capture import export_program
from vaiq.errors import CaptureError
from xir.xmodel import write_atomic

from .compiled import FILES
from .errors import WegoError
from .options import CompileOptions, DynamoCompileOptions, PartitionOptions

FORMAT = "wego-torch-archive-1"


def save_archive(module, path) -> Path:
    core = module._core
    q = core.q
    example = tuple(torch.zeros(s) for s in core.input_shapes)
    try:
        ep = export_program(module._float_model, example)
    except CaptureError as e:
        raise WegoError(str(e)) from None
    prog = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(ep, prog)
    info = {"format": FORMAT, "graph_name": q.graph.name, "input_shapes": [list(s) for s in core.input_shapes],
            "target": core.compiled.target.name, "cache_key": core.compiled.key,
            "min_ops": module._options.partition_options.wego_subgraph_min_ops_number}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("wego.json", json.dumps(info, indent=1))
        z.writestr("program.pt2", prog.getvalue())
        for name, data in module._quant_files.items():
            z.writestr(f"quant_result/{name}", data)
        for name, data in core.compiled.files.items():
            z.writestr(f"compiled/{name}", data)
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise WegoError(f"{path}: its folder {path.parent} does not exist")
    write_atomic(path, buf.getvalue())
    return path


def _inference_only(self, mode: bool = True):
    return self      # an exported program is already in inference form; train()/eval() change nothing


def named_module(m: torch.nn.Module, name: str) -> torch.nn.Module:
    """``m`` with its class named ``name`` (vaiq names the captured graph after the class, and the
    quantization result's keys carry that name); train()/eval() are no-ops on it."""
    m.__class__ = type(name, (m.__class__,), {"train": _inference_only})
    for k in ("train", "eval"):        # ExportedProgram.module() sets refusing instance methods
        m.__dict__.pop(k, None)
    return m


def load(path, target: str | None = None, verbose: bool = False):
    """The module saved by ``WegoModule.save``."""
    p = Path(path)
    if not p.is_file():
        raise WegoError(f"{p}: no such file")
    try:
        z = zipfile.ZipFile(p)
        info = json.loads(z.read("wego.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError):
        raise WegoError(f"{p}: not a file written by WegoModule.save()") from None
    if info.get("format") != FORMAT:
        raise WegoError(f"{p}: archive format {info.get('format')!r} is not {FORMAT!r}")
    opts = CompileOptions(dynamo=True, target=target or info["target"], verbose=verbose,
                          partition_options=PartitionOptions(int(info["min_ops"])))
    compiled = {name: z.read(f"compiled/{name}") for name in FILES}
    quant_files = {n.split("/", 1)[1]: z.read(n) for n in z.namelist()
                   if n.startswith("quant_result/") and n.count("/") == 1 and not n.endswith("/")}
    return from_program(z.read("program.pt2"), quant_files, info["graph_name"],
                        tuple(torch.zeros(s) for s in info["input_shapes"]), opts, (info["cache_key"], compiled))


def from_program(program: bytes, quant_files: dict[str, bytes], graph_name: str, example: tuple,
                 opts: CompileOptions, seed: tuple[str, dict] | None = None):
    """A compiled module from a saved torch.export program and its quantization result files
    (quant_info.json, maybe bias_corr.pth: vaiq's ``quant_result_files()``), compiled at once
    for ``example``; ``seed`` = (cache key, compiled files) is offered as a compile-cache entry."""
    from .module import WegoModule
    tmp = Path(tempfile.mkdtemp(prefix="wego-load-"))
    try:
        (tmp / "quant_result").mkdir()
        for name, data in quant_files.items():
            (tmp / "quant_result" / name).write_bytes(data)
        if seed is not None:
            entry = tmp / "cache" / seed[0]
            entry.mkdir(parents=True)
            for name, data in seed[1].items():
                (entry / name).write_bytes(data)
            opts.cache_dir = str(tmp / "cache")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ep = torch.export.load(io.BytesIO(program))
        except Exception as e:   # torch raises many exception types for a damaged program
            raise WegoError(f"the saved float program cannot be loaded: {type(e).__name__}: {e}") from None
        model = named_module(ep.module(), graph_name)
        opts.dynamo_options = DynamoCompileOptions(str(tmp / "quant_result"))
        return WegoModule(model, tmp / "quant_result", opts, example)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
