"""The driver of ``vairun eval``: plan shards, hand them to an engine (local pool or Ray), gather
top-1/top-5, keep outputs on disk, and report throughput and the board estimate.

Rules:
- shards are fixed by ``batch`` alone (shard i holds inputs ``i*batch`` to ``(i+1)*batch - 1``), so
  every engine and worker count computes the same shards and the results are identical;
- top-1/top-5 count an input as right when its label is the first / among the first five classes of
  the model's first output (ties ranked by the lower class index); without labels they are None;
- ``images_per_s`` is the inputs run in this call over the wall time from starting the workers to the
  last result (worker start-up and model loading included; joining or starting Ray itself is not);
- the board estimate is the timing model's (timing-only profile of the compiled model).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xir.scaleout import cluster_cpus, default_workers, ray_session

from ..errors import VairunError
from .data import open_data
from .errors import EvalInterrupted
from .store import PartStore
from .worker import TOPK


@dataclass
class EvalResult:
    images: int
    top1: float | None
    top5: float | None
    images_per_s: float
    seconds: float
    engine: str
    workers: int
    batch: int
    retries: int
    resumed: int
    board: dict
    outputs: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def _input_hwc(runner) -> tuple[int, int, int]:
    tins = runner.get_input_tensors()
    if len(tins) != 1:
        raise VairunError(f"vairun eval takes models with one input; this one has {len(tins)} "
                          f"({[t.name for t in tins]})")
    dims = tins[0].dims
    if len(dims) != 4:
        raise VairunError(f"vairun eval takes image models (input N x H x W x C); input '{tins[0].name}' "
                          f"has dims {dims}")
    return dims[1], dims[2], dims[3]


def evaluate(model, data, labels=None, preprocess: str = "none", batch: int = 16, workers: int | None = None,
             ray: str | None = None, limit: int | None = None, outputs=None, resume: bool = False,
             arch: str | None = None, on_progress=None) -> EvalResult:
    """Evaluate compiled ``model`` on ``data``; ``on_progress(done, total, engine)`` after each shard."""
    from ..profiling import profile_model
    from ..runner import GraphRunner
    runner = GraphRunner(model, arch)
    model_bytes = Path(model).read_bytes()
    ds = open_data(data, _input_hwc(runner), preprocess, labels, limit)
    n = ds.spec.n
    classes = int(np.prod(runner.get_output_tensors()[0].dims[1:]))
    if ds.labels is not None and ds.labels.size and int(ds.labels.max()) >= classes:
        raise VairunError(f"label {int(ds.labels.max())} is out of range: the model's output has {classes} classes")
    if resume and outputs is None:
        raise VairunError("--resume needs --outputs (the finished shards are kept beside OUT.npz)")
    shards = [(i, s, min(s + batch, n)) for i, s in enumerate(range(0, n, batch))]
    topk = np.full((n, min(TOPK, classes)), -1, np.int32) if classes >= 2 else None
    store = None
    finished: set[int] = set()
    if outputs is not None:
        manifest = {"model": hashlib.md5(model_bytes).hexdigest(), "arch": arch, "data": ds.spec.identity(),
                    "batch": batch, "inputs": n}
        store = PartStore(Path(outputs), manifest)
        finished = store.open(resume)
        for i in finished:
            if topk is not None:
                s = shards[i]
                topk[s[1]:s[2]] = store.load_topk(i)
    todo = [s for s in shards if s[0] not in finished]
    resumed = sum(s[2] - s[1] for s in shards if s[0] in finished)
    done = resumed
    engine_kind, nworkers, retries, seconds = "local", workers or default_workers(), 0, 0.0
    if todo:
        engine_kind, nworkers, retries, seconds = _run_engine(ray, workers, model_bytes, str(model), arch, store,
                                                              ds.spec, todo, shards, topk, done, n, on_progress)
    if store is not None:
        store.assemble(len(shards))
    top1 = top5 = None
    if ds.labels is not None and topk is not None:
        top1 = float(np.mean(topk[:, 0] == ds.labels))
        top5 = float(np.mean((topk == ds.labels[:, None]).any(axis=1)))
    p = profile_model(runner.model)
    board = {"target": p.target, "clock_mhz": p.clock_mhz, "cycles": p.cycles, "latency_ms": p.latency_ms,
             "fps": p.fps}
    ran = n - resumed
    return EvalResult(n, top1, top5, ran / seconds if ran and seconds > 0 else 0.0, seconds, engine_kind, nworkers,
                      batch, retries, resumed, board, None if outputs is None else str(outputs))


def _run_engine(ray, workers, model_bytes, name, arch, store, spec, todo, shards, topk, done, n, on_progress):
    keep = store is not None

    def drive(engine):
        nonlocal done
        t0 = time.perf_counter()
        try:
            for r in engine.run(todo):
                if store is not None:
                    store.save(r)
                s = shards[r.shard]
                if topk is not None and r.topk is not None:
                    topk[s[1]:s[2]] = r.topk
                done += s[2] - s[1]
                if on_progress is not None:
                    on_progress(done, n, engine)
            seconds = time.perf_counter() - t0
        except KeyboardInterrupt:
            raise EvalInterrupted(done, n, store is not None) from None
        finally:
            engine.close()
        return engine.kind, engine.workers, engine.retries, seconds

    if ray is None:
        from .pool import LocalPool
        return drive(LocalPool(workers or default_workers(), model_bytes, name, arch, keep, spec))
    from .ray_engine import RayPool
    with ray_session(ray, workers) as mod:
        return drive(RayPool(mod, workers or cluster_cpus(mod), model_bytes, name, arch, keep, spec))
