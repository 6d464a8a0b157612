"""The TVM flow's test model: an ONNX CNN exported from a torch model defined here, with a CPU op (tanh)
between two DPU regions; one on-the-fly build shared by the tests of a module."""
from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

tvm = pytest.importorskip("tvm")

SHAPE = (1, 3, 16, 16)
QUANT_SIZE = 4


class TvmNet(nn.Module):
    """conv+relu | tanh (no DPU op) | conv + residual add + relu, max pool, 1x1 conv, global pool, flatten, dense."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.c3 = nn.Conv2d(8, 16, 1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        y = torch.tanh(torch.relu(self.c1(x)))
        z = nn.functional.max_pool2d(torch.relu(self.c2(y) + y), 2)
        z = nn.functional.adaptive_avg_pool2d(torch.relu(self.c3(z)), 1).flatten(1)
        return self.fc(z)


def export_onnx(model: nn.Module, shape=SHAPE, output_names=("y",)) -> bytes:
    """``model`` in eval mode as torch's TorchScript exporter writes it (opset 17, input ``x``; output
    names ``output_names``, or the exporter's own for None)."""
    f = io.BytesIO()
    torch.onnx.export(model.eval(), (torch.randn(*shape),), f, input_names=["x"],
                      output_names=None if output_names is None else list(output_names), dynamo=False,
                      opset_version=17)
    return f.getvalue()


def onnx_bytes() -> bytes:
    torch.manual_seed(0)
    return export_onnx(TvmNet())


def images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.RandomState(seed)
    return [rng.uniform(-1, 1, SHAPE).astype(np.float32) for _ in range(n)]


def partitioned(model: bytes, dpu: str = "DPUCZDX8G-zcu104"):
    import vai_tvm
    mod = vai_tvm.from_onnx(model, shape_dict={"x": list(SHAPE)})
    return vai_tvm.partition_for_vitis_ai(mod, dpu=dpu)


class Flow:
    """A built module after its switch: the executable, the GraphModule, the progress lines."""

    def __init__(self, root: Path):
        import vai_tvm
        from tvm import relax
        self.root = root
        self.model_path = root / "net.onnx"
        self.model_path.write_bytes(onnx_bytes())
        self.mod = partitioned(self.model_path.read_bytes())
        self.ex = relax.build(self.mod, target="llvm")
        self.build_dir = root / "build"
        self.m = vai_tvm.GraphModule(self.ex, quant_size=QUANT_SIZE, build_dir=self.build_dir)
        err = io.StringIO()
        self.float_outputs = []
        with redirect_stderr(err):
            for img in images(QUANT_SIZE):
                self.m.set_input("x", img)
                self.m.run()
                self.float_outputs.append(self.m.get_output(0).numpy())
        self.progress = err.getvalue()


@pytest.fixture(scope="session")
def flow(tmp_path_factory) -> Flow:
    return Flow(tmp_path_factory.mktemp("tvmflow"))


def run_python(code: str, env_extra: dict | None = None, cwd=None):
    import os
    import subprocess
    env = dict(os.environ)
    env.pop("PX_BUILD_DIR", None)
    env.pop("PX_QUANT_SIZE", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
