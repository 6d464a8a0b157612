"""What the ``vairun eval`` tests share: a compiled tiny model, labelled .npy data, reference results
from one GraphRunner, and a data spec whose reads kill a worker once (fault injection by a real
SIGKILL, not by a hook in the product)."""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vairun.evaluate.data import DataSpec

N_INPUTS = 40
BATCH = 8


def compile_tiny(tmp_path_factory) -> Path:
    from vaic.pipeline import compile_graph
    from vaic.writer import write_outputs
    from vaiq.zoo import MODELS, get_model
    from flow import quantize_roundtrip
    d = tmp_path_factory.mktemp("evalmodel")
    q = quantize_roundtrip(get_model("tiny_resnet"), MODELS["tiny_resnet"].input_shape, d, batches=2)
    return write_outputs(compile_graph(q.export_xmodel(), "DPUCZDX8G/KV260"), d / "out", "tr")["tr.xmodel"]


def make_data(folder: Path, n: int = N_INPUTS, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    x, y = folder / "x.npy", folder / "y.npy"
    np.save(x, rng.standard_normal((n, 32, 32, 3)).astype(np.float32))
    np.save(y, rng.integers(0, 10, n))
    return x, y


def reference(model: Path, x: Path) -> dict[str, np.ndarray]:
    from vairun import GraphRunner
    return GraphRunner(model).run([np.load(x)])


@dataclass
class KillingSpec(DataSpec):
    """Reading input ``kill_at`` for the first time calls ``kill`` (default: SIGKILL this process, i.e.
    the local worker that reads it); ``marker`` records that it happened, across processes."""
    kill_at: int = -1
    marker: str = ""

    def read(self, start: int, stop: int) -> np.ndarray:
        if start == self.kill_at and not os.path.exists(self.marker):
            Path(self.marker).write_text("killed")
            self.kill()
        return super().read(start, stop)

    def kill(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)
