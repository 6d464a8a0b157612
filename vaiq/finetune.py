"""Fast finetune (pytorch_nndct's AdaQuant): adjust conv/dense weights and biases layer by layer so
the quantized network follows the float one more closely.

Rules:
- data: the network inputs the user's ``run_fn`` feeds through ``quant_model`` (recorded, then the
  whole procedure runs on them; nothing else of ``run_fn`` is used);
- layers: every quantized conv, transposed conv and dense node, in graph order;
- a layer's loss is the MSE between its float output (the float model, original weights) and its
  quantized output computed from the *quantized* network's input to that layer (AdaQuant's choice:
  the layer learns to compensate the errors of the layers before it). The quantized output is a
  differentiable fake-quant with straight-through gradients: weights and bias STD_ROUND onto their
  fix positions, the fused activation in its DPU form, the output DPU_ROUND onto its fix position and
  saturated (no gradient outside the range). Fix positions come from the calibration so far; weight
  and bias positions are re-derived (and the DPU constraints refined) after every iteration;
- optimizer: Adam with one learning rate per tensor, ``lr * std(tensor)``;
- an iteration is ``steps`` Adam steps on seeded random mini-batches; it is kept only when the
  end-of-network error (MSE between the exact test-mode outputs and the float outputs, summed over
  outputs) improves, otherwise the best weights come back and the learning rates halve; a candidate
  that would move the fix position of a tensor computed before the layer is rejected the same way;
- memory: the cache (live tensors of the float and of the quantized network over all samples, and
  the network's float outputs) is estimated first; it lives in RAM when
  it fits in half of MemAvailable, else in files under the output directory (deleted afterwards),
  else the run stops with a message giving the size it needs;
- deterministic: every random choice comes from a seeded generator.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from xir.xmodel import write_atomic

from .calib import fake_quant, qbounds
from .errors import VaiqError
from .fixtable import CONV_LIKE
from .prepare import has_fix
from . import run_float

log = logging.getLogger("vaiq")

PARAM_FILE = "param.pth"
FORMAT = "vaiq fast-finetune parameters 1"
RAM_SHARE = 0.5          # the cache may take this share of MemAvailable
CHUNK = 64               # samples per forward chunk when walking the networks


class FinetuneError(VaiqError):
    """Fast finetune cannot run (no data, not enough memory) or param.pth does not fit the model."""


@dataclass
class FtSettings:
    """Knobs of the procedure (defaults keep a CPU run short)."""
    iters: int = 6            # iterations per layer (each followed by the end-of-network check)
    steps: int = 16           # Adam steps per iteration
    batch: int = 32           # samples per Adam step
    lr: float = 3e-3          # learning rate relative to each tensor's standard deviation
    seed: int = 0


@dataclass
class LayerReport:
    name: str
    error_before: float
    error_after: float
    kept: int                 # iterations kept


@dataclass
class FtReport:
    samples: int
    cache_bytes: int
    on_disk: bool
    layers: list[LayerReport] = field(default_factory=list)


# ---------------------------------------------------------------------------------------- files

def fingerprint(graph) -> str:
    """A digest of the node names, kinds and parameter shapes: param.pth fits only this model."""
    rows = [[n.name, n.kind, sorted((k, list(v.shape)) for k, v in n.params.items())]
            for n in graph.nodes if n.params]
    return hashlib.md5(json.dumps([graph.name, rows]).encode()).hexdigest()


def save_params(path: Path, qm, names: list[str]) -> None:
    """Write the parameters of nodes ``names`` (atomically) with the graph's fingerprint."""
    data = {"format": FORMAT, "graph": qm.graph.name, "fingerprint": fingerprint(qm.graph),
            "params": {nm: {k: v.detach().clone() for k, v in qm.params_of(nm).items()} for nm in names}}
    buf = io.BytesIO()
    torch.save(data, buf)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(Path(path), buf.getvalue())


def load_params(path: Path, qm) -> list[str]:
    """Put the parameters of a param.pth into ``qm``; returns the node names it set."""
    path = Path(path)
    if not path.is_file():
        raise FinetuneError(f"{path}: no such file; run fast_finetune() in quant_mode 'calib' with this "
                            "output_dir first")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise FinetuneError(f"{path}: cannot read it ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FinetuneError(f"{path}: not a vaiq fast-finetune parameter file")
    if data.get("fingerprint") != fingerprint(qm.graph):
        raise FinetuneError(f"{path}: made for another model ('{data.get('graph')}', different layers or "
                            f"parameter shapes than '{qm.graph.name}'); re-run fast_finetune() for this model")
    for name, params in data["params"].items():
        for k, v in params.items():
            qm.set_param(name, k, v)
    return list(data["params"])


# ---------------------------------------------------------------------------------------- memory

def mem_available() -> int:
    """Bytes of RAM the kernel reports available (MemAvailable), 0 when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _per_sample(n) -> int:
    return math.prod(n.shape[1:]) if len(n.shape) > 1 else 1


def cache_bytes(graph, samples: int) -> int:
    """The cache's size for ``samples`` samples (float32): the peak live set of both networks while
    walking the graph (a layer's float output is the float network's next value) and the network's
    float outputs."""
    nodes = graph.nodes
    last = {}
    for i, n in enumerate(nodes):
        for x in n.inputs:
            last[x] = i
    outs = set(graph.outputs)
    live, peak = {}, 0
    for i, n in enumerate(nodes):
        live[n.name] = _per_sample(n)
        peak = max(peak, sum(live.values()))
        for x in n.inputs:
            if last.get(x) == i and x not in outs:
                live.pop(x, None)
    final = sum(_per_sample(graph.node(o)) for o in graph.outputs)
    return 4 * samples * (2 * peak + final)


class _Cache:
    """N-sample float32 tensors, in RAM or backed by files in ``folder`` (the page cache holds
    what fits; nothing is ever larger than the files)."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.count = 0

    def new(self, shape) -> torch.Tensor:
        if self.folder is None:
            return torch.empty(shape, dtype=torch.float32)
        self.count += 1
        path = self.folder / f"t{self.count}.bin"
        t = torch.from_file(str(path), shared=True, size=math.prod(shape), dtype=torch.float32).view(shape)
        path.unlink()        # the mapping keeps the data; the name is not needed
        return t


@contextlib.contextmanager
def _cache_for(graph, samples: int, out_dir: Path):
    need = cache_bytes(graph, samples)
    budget = int(mem_available() * RAM_SHARE)
    if need <= budget or budget == 0:
        yield _Cache(None), need, False
        return
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out_dir).free
    if need * 1.1 > free:
        raise FinetuneError(
            f"fast finetune on {samples} samples needs {need / 2**30:.2f} GiB for its cache; "
            f"{budget / 2**30:.2f} GiB of RAM and {free / 2**30:.2f} GiB of disk under {out_dir} are "
            "available: feed fewer samples (a smaller ft_loader, or --ft-size)")
    folder = Path(tempfile.mkdtemp(prefix=".ft_cache-", dir=out_dir))
    log.info("fast finetune: %.2f GiB cache streamed to %s", need / 2**30, folder)
    try:
        yield _Cache(folder), need, True
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------- recording

class Recorder:
    """Collects the inputs of every forward pass through ``quant_model`` (calib mode), refusing to
    hold more than ``budget`` bytes."""

    def __init__(self, budget: int):
        self.batches: list[tuple[torch.Tensor, ...]] = []
        self.bytes, self.budget = 0, budget

    def __call__(self, args) -> None:
        size = sum(a.numel() * 4 for a in args)
        if self.budget and self.bytes + size > self.budget:
            raise FinetuneError(f"the data run_fn feeds exceeds {self.budget / 2**30:.2f} GiB (half of the "
                                "available RAM): feed fewer samples to fast_finetune()")
        self.bytes += size
        self.batches.append(tuple(a.detach().float().clone() for a in args))

    def inputs(self) -> tuple[torch.Tensor, ...]:
        if not self.batches:
            raise FinetuneError("run_fn fed no data through quant_model: fast_finetune(run_fn, run_args) "
                                "needs run_fn to run the quantizer's quant_model on finetuning data")
        return tuple(torch.cat(parts) for parts in zip(*self.batches))


def record(qm, run_fn: Callable, run_args) -> tuple[torch.Tensor, ...]:
    """Call ``run_fn(*run_args)`` with ``qm`` recording its inputs; returns them concatenated."""
    rec = Recorder(int(mem_available() * RAM_SHARE))
    qm.recorder = rec
    try:
        run_fn(*run_args)
    finally:
        qm.recorder = None
    return rec.inputs()


# ---------------------------------------------------------------------------------------- walking

class _Walk:
    """One network (float or exact quantized) evaluated node by node over all samples, keeping only
    the values later nodes still need (the frontier)."""

    def __init__(self, qm, inputs, cache: _Cache, exact: bool, orig: dict):
        self.qm, self.inputs, self.cache, self.exact, self.orig = qm, inputs, cache, exact, orig
        self.nodes = qm.graph.nodes
        self.n = inputs[0].shape[0]
        self.last = {}
        for i, node in enumerate(self.nodes):
            for x in node.inputs:
                self.last[x] = i
        self.keep = set(qm.graph.outputs)
        self.values: dict[str, torch.Tensor] = {}

    def step(self, node, xs: list[torch.Tensor], sl: slice) -> torch.Tensor:
        g = self.qm.graph
        if node.kind == "input":
            xs = [self.inputs[g.inputs.index(node.name)][sl]]
        if self.exact:
            return self.qm.exact_step(node, [x.double() for x in xs])
        if node.kind == "input":
            return xs[0].float()
        return self.qm.float_step(node, [x.float() for x in xs], self.orig.get(node.name), dpu_approx=False)

    def chunks(self):
        for s in range(0, self.n, CHUNK):
            yield slice(s, min(s + CHUNK, self.n))

    def compute(self, i: int) -> torch.Tensor:
        """Node i's value over all samples (a new cache tensor), from the frontier."""
        node = self.nodes[i]
        out = None
        for sl in self.chunks():
            y = self.step(node, [self.values[x][sl] for x in node.inputs], sl)
            if out is None:
                out = self.cache.new((self.n,) + tuple(y.shape[1:]))
            out[sl] = y.float()
        return out

    def advance(self, i: int, value: torch.Tensor | None = None) -> None:
        """Put node i's value (computed here unless given) into the frontier and drop the values no
        later node reads."""
        self.values[self.nodes[i].name] = self.compute(i) if value is None else value
        for x in self.nodes[i].inputs:
            if self.last.get(x) == i and x not in self.keep:
                self.values.pop(x, None)

    def tail_error(self, i: int, target: dict[str, torch.Tensor]) -> float:
        """Run nodes i.. to the end chunk by chunk from the frontier (left as it is); the summed
        per-output mean squared difference to ``target``."""
        err = {o: 0.0 for o in self.qm.graph.outputs}
        for sl in self.chunks():
            vals = {k: v[sl] for k, v in self.values.items()}
            for j in range(i, len(self.nodes)):
                node = self.nodes[j]
                vals[node.name] = self.step(node, [vals[x] for x in node.inputs], sl)
                for x in node.inputs:
                    if self.last.get(x) == j and x not in self.keep:
                        vals.pop(x, None)
            for o in err:
                err[o] += float(((vals[o].double() - target[o][sl].double()) ** 2).sum())
        return sum(e / target[o].numel() for o, e in err.items())


# ---------------------------------------------------------------------------------------- the layer

def _ste_quant(x: torch.Tensor, fp: int, bw: int, mode: str) -> torch.Tensor:
    """Fake-quantize with a straight-through gradient inside the representable range (none outside)."""
    lo, hi = qbounds(bw)
    s = 2.0 ** fp
    xc = torch.clamp(x, lo / s, hi / s)
    return xc + (fake_quant(xc.detach(), fp, bw, mode) - xc.detach())


def quant_layer(n, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, table) -> torch.Tensor:
    """The differentiable quantized output of conv/dense node ``n`` (rules in the module docstring)."""
    p = {"weight": _ste_quant(w, table.param_pos[f"{n.name}.weight"], table.param_bits[f"{n.name}.weight"],
                              "STD_ROUND")}
    if b is not None:
        p["bias"] = _ste_quant(b, table.param_pos[f"{n.name}.bias"], table.param_bits[f"{n.name}.bias"],
                               "STD_ROUND")
    y = run_float.run_node(n, [x], p, dpu_approx=True)
    return _ste_quant(y, table.get(n.name), table.bw(n.name), "DPU_ROUND")


def _lr(t: torch.Tensor, base: float, fallback: float) -> float:
    s = float(t.detach().std()) if t.numel() > 1 else 0.0
    return base * s if s > 0 and math.isfinite(s) else fallback


def _positions(table, names: list[str]) -> dict[str, int]:
    return {nm: table.get(nm) for nm in names}


def tune_layer(qm, i: int, fwalk: _Walk, qwalk: _Walk, target: dict, make_table, cfg: FtSettings,
               advance: Callable[[], None]) -> tuple[LayerReport, torch.Tensor]:
    """AdaQuant on node i (see the module docstring); leaves the best parameters in ``qm``; returns
    the report and the layer's float output over all samples."""
    n = qm.graph.nodes[i]
    f_out = fwalk.compute(i)
    x_q = qwalk.values[n.inputs[0]]
    earlier = [m.name for m in qm.graph.nodes[:i] if has_fix(m)]
    table = qm.table
    frozen = _positions(table, earlier)
    params = qm.params_of(n.name)
    w = params["weight"].detach().clone().requires_grad_(True)
    b = params["bias"].detach().clone().requires_grad_(True) if "bias" in params else None
    best = [w.detach().clone(), None if b is None else b.detach().clone()]
    best_err = first = qwalk.tail_error(i, target)
    lr_w = _lr(w, cfg.lr, cfg.lr * 1e-2)
    groups = [{"params": [w], "lr": lr_w}] + ([] if b is None else [{"params": [b], "lr": _lr(b, cfg.lr, lr_w)}])
    opt = torch.optim.Adam(groups)
    gen = torch.Generator().manual_seed(cfg.seed * 1000003 + i)
    total = x_q.shape[0]
    kept = 0
    for _ in range(cfg.iters):
        with torch.enable_grad():
            for _ in range(cfg.steps):
                idx = torch.randperm(total, generator=gen)[:cfg.batch]
                y = quant_layer(n, x_q[idx], w, b, table)
                loss = torch.mean((y - f_out[idx]) ** 2)
                opt.zero_grad()
                loss.backward()
                opt.step()
        _put(qm, n.name, w, b)
        table = make_table()
        qm.set_table(table)
        err = qwalk.tail_error(i, target) if _positions(table, earlier) == frozen else math.inf
        if err < best_err:
            best_err, kept = err, kept + 1
            best = [w.detach().clone(), None if b is None else b.detach().clone()]
        else:
            with torch.no_grad():
                w.copy_(best[0])
                if b is not None:
                    b.copy_(best[1])
            for g in opt.param_groups:
                g["lr"] *= 0.5
        advance()
    _put(qm, n.name, w, b)
    qm.set_table(make_table())
    return LayerReport(n.name, first, best_err, kept), f_out


def _put(qm, name: str, w: torch.Tensor, b: torch.Tensor | None) -> None:
    qm.set_param(name, "weight", w)
    if b is not None:
        qm.set_param(name, "bias", b)


# ---------------------------------------------------------------------------------------- driver

def layers_of(graph) -> list[int]:
    """Indices of the nodes fast finetune adjusts: quantized conv, transposed conv and dense nodes."""
    return [i for i, n in enumerate(graph.nodes) if n.quant == "own" and n.kind in CONV_LIKE and n.params]


def adaquant(qm, inputs: tuple[torch.Tensor, ...], make_table: Callable, out_dir: Path,
             cfg: FtSettings | None = None, progress=None) -> FtReport:
    """Finetune every layer of ``qm`` on ``inputs`` (N-sample tensors, one per graph input).
    ``make_table()`` returns the refined fix table of the current parameters; ``progress(label,
    total)`` (optional) is a context manager yielding an advance() callable, one bar per layer."""
    cfg = cfg or FtSettings()
    g = qm.graph
    samples = inputs[0].shape[0]
    orig = {n.name: {k: v.detach().clone() for k, v in qm.params_of(n.name).items()}
            for n in g.nodes if n.params}
    targets = layers_of(g)
    saved_table = qm.table
    with _cache_for(g, samples, out_dir) as (cache, need, on_disk), torch.no_grad():
        report = FtReport(samples, need, on_disk)
        qm.set_table(make_table())
        full = _Walk(qm, inputs, cache, exact=False, orig=orig)
        for i in range(len(g.nodes)):
            full.advance(i)
        target = {o: full.values[o] for o in g.outputs}
        del full
        fwalk = _Walk(qm, inputs, cache, exact=False, orig=orig)
        qwalk = _Walk(qm, inputs, cache, exact=True, orig=orig)
        for i in range(len(g.nodes)):
            f_out = None
            if i in targets:
                label = f"finetune {g.nodes[i].name}"
                bar = progress(label, cfg.iters) if progress else contextlib.nullcontext(lambda: None)
                with bar as advance:
                    r, f_out = tune_layer(qm, i, fwalk, qwalk, target, make_table, cfg, advance)
                report.layers.append(r)
                log.info("%s: end-of-network error %.6g -> %.6g (%d of %d iterations kept)",
                         label, r.error_before, r.error_after, r.kept, cfg.iters)
            fwalk.advance(i, f_out)
            qwalk.advance(i)
    qm.set_table(saved_table)
    return report
