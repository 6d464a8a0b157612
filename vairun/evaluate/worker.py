"""What every evaluation worker does, whatever runs it (a local process or a Ray actor): load the
compiled model once from its bytes, then turn shards of inputs into shard results.

Rules:
- a worker computes with one thread (one worker per core is the unit of parallelism): the emulator's
  own batch split and OpenBLAS are both set to 1 thread when the worker starts;
- a shard's result is the top-5 class indices per input (from the model's first output, highest value
  first, ties broken by the lower index, so every engine ranks identically) and, when asked, every
  output as float32, keyed by output name.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

TOPK = 5


@dataclass
class ShardResult:
    shard: int
    topk: np.ndarray | None                 # [n, k] int32 class indices, or None (not a classifier)
    outputs: dict[str, np.ndarray] | None   # only when the run keeps outputs
    pid: int


def topk_of(out: np.ndarray, k: int = TOPK) -> np.ndarray | None:
    """Top-k class indices per row of a classifier output ([n, classes] or [n, 1, 1, classes])."""
    flat = out.reshape(out.shape[0], -1)
    if flat.shape[1] < 2:
        return None
    order = np.argsort(-flat.astype(np.float64), axis=1, kind="stable")
    return order[:, :min(k, flat.shape[1])].astype(np.int32)


def single_threaded() -> None:
    """One compute thread in this process: the emulator's batch split and OpenBLAS."""
    os.environ["VAIRUN_EMU_THREADS"] = "1"
    from ..emu.fast import blas
    blas.set_threads(1)


class ShardWorker:
    """One warm GraphRunner over the model's bytes."""

    def __init__(self, model_bytes: bytes, name: str, arch: str | None, keep_outputs: bool):
        single_threaded()
        from ..model import compiled_from_bytes
        from ..runner import GraphRunner
        self.runner = GraphRunner(compiled_from_bytes(model_bytes, name, arch))
        self.keep_outputs = keep_outputs
        self.first = self.runner.output_ops[0].get_name()

    def run(self, shard: int, x: np.ndarray) -> ShardResult:
        out = self.runner.run([x])
        return ShardResult(shard, topk_of(out[self.first]), out if self.keep_outputs else None, os.getpid())
