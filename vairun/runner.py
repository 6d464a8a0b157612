"""Runners in the spirit of VART: a whole-graph runner and a per-DPU-subgraph runner.

    g = xir.Graph.deserialize("compile_output/net.xmodel")
    dpu = [s for s in g.get_root_subgraph().toposort_child_subgraph() if s.get_attr("device") == "DPU"]
    runner = vairun.Runner.create_runner(dpu[0], "run")          # VART's names
    inp, out = runner.get_input_tensors(), runner.get_output_tensors()
    job = runner.execute_async([x_int8], [y_int8])                # arrays with a leading batch
    runner.wait(job)

    gr = vairun.GraphRunner("compile_output/net.xmodel")        # the whole graph, float in and out
    outputs = gr.run({"x": image_nhwc})

Rules: a job runs on its own emulated machine, so runners are safe to call from several threads;
inputs are NHWC with any leading batch; ``execute_async`` returns a job id at once and ``wait``
returns when the job is done (re-raising its error).
"""
from __future__ import annotations

import itertools
import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

import xir
from xir.dtypes import numpy_dtype
from xir.fixpoint import dequantize

from .errors import VairunError
from .execute import MachinePool, feed_input, run_cpu, run_dpu
from .model import CompiledModel, load_compiled

_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vairun")


@dataclass
class TensorInfo:
    """What VART's tensors offer on the common path: ``name``, ``dims``, ``dtype``, attributes."""
    name: str
    dims: list[int]
    dtype: str
    attrs: dict = field(default_factory=dict)

    def get_attr(self, key: str):
        if key not in self.attrs:
            raise KeyError(f"tensor '{self.name}' has no attribute '{key}'")
        return self.attrs[key]

    def has_attr(self, key: str) -> bool:
        return key in self.attrs

    def get_attrs(self) -> dict:
        return dict(self.attrs)

    @property
    def ndim(self) -> int:
        return len(self.dims)

    def get_element_num(self) -> int:
        return math.prod(self.dims)

    def get_data_size(self) -> int:
        """Bytes of the tensor's data (one element per numpy item: xint8 -> 1 byte), as xir's."""
        return self.get_element_num() * numpy_dtype(self.dtype).itemsize

    @property
    def layout(self) -> str:
        return "NHWC" if len(self.dims) == 4 else "-"


def _info(t: xir.Tensor, batch: int) -> TensorInfo:
    attrs = {k: v for k, v in t.get_attrs().items() if k in ("fix_point", "bit_width", "if_signed", "round_mode",
                                                             "reg_id", "ddr_addr", "stride")}
    return TensorInfo(t.name, [batch] + list(t.dims[1:]), t.dtype, attrs)


class _Jobs:
    def __init__(self):
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._jobs: dict[int, Future] = {}

    def submit(self, fn, *args) -> int:
        with self._lock:
            jid = next(self._ids)
            self._jobs[jid] = _POOL.submit(fn, *args)
        return jid

    def wait(self, jid: int, timeout=None):
        with self._lock:
            fut = self._jobs.pop(jid, None)
        if fut is None:
            raise VairunError(f"no pending job {jid}")
        return fut.result(timeout)


class GraphRunner:
    """Runs a whole compiled graph: USER inputs, DPU subgraphs on the emulator, CPU subgraphs on the
    reference kernels. ``reference=True`` runs the DPU subgraphs on the emulator's reference executor
    (one plain function per opcode, docs/vairun.md); None follows ``VAIRUN_EMU_REFERENCE``."""

    def __init__(self, model, arch: str | None = None, verify: bool = True, reference: bool | None = None):
        self.model: CompiledModel = model if isinstance(model, CompiledModel) else load_compiled(model, arch, verify)
        g = self.model.graph
        self.input_ops = [o for o in g.toposort() if o.get_type() in ("data", "data-fix")]
        self.output_ops = g.get_output_ops()
        self._jobs = _Jobs()
        self._machines = MachinePool(reference)

    @staticmethod
    def create_graph_runner(model, arch: str | None = None) -> "GraphRunner":
        return GraphRunner(model, arch)

    @property
    def target(self):
        return self.model.target

    def get_input_tensors(self) -> list[TensorInfo]:
        return [_info(o.get_output_tensor(), 1) for o in self.input_ops]

    def get_output_tensors(self) -> list[TensorInfo]:
        return [_info(o.get_output_tensor(), 1) for o in self.output_ops]

    def _normalize(self, inputs) -> dict[str, np.ndarray]:
        names = [o.get_name() for o in self.input_ops]
        if isinstance(inputs, dict):
            unknown = sorted(set(inputs) - set(names))
            if unknown:
                raise VairunError(f"unknown input(s) {unknown}; the model's inputs are {names}")
            missing = sorted(set(names) - set(inputs))
            if missing:
                raise VairunError(f"missing input(s) {missing}")
            return dict(inputs)
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(inputs) != len(names):
            raise VairunError(f"the model takes {len(names)} input(s) ({names}), got {len(inputs)}")
        return dict(zip(names, inputs))

    def execute(self, inputs, on_instruction=None) -> dict[str, np.ndarray]:
        """Run synchronously; returns every output op's value (int8 for fixed tensors) by name."""
        feeds = self._normalize(inputs)
        values: dict[str, np.ndarray] = {}
        batch = None
        for op in self.input_ops:
            v = feed_input(op, feeds[op.get_name()])
            if batch is not None and v.shape[0] != batch:
                raise VairunError(f"inputs have different batch sizes ({batch} and {v.shape[0]})")
            batch = v.shape[0]
            values[op.get_name()] = v
        for sg in self.model.subgraphs:
            dev = sg.get_attr("device")
            if dev == "DPU":
                run_dpu(self.model.plans[sg.get_name()], self.model.target, values, batch, on_instruction,
                        self._machines)
            elif dev == "CPU":
                run_cpu(sg, values)
        return {o.get_name(): values[o.get_name()] for o in self.output_ops}

    def run(self, inputs, raw: bool = False) -> dict[str, np.ndarray]:
        """Outputs by name, dequantized to float32 (``raw``: int8 values, see ``get_output_tensors``)."""
        out = self.execute(inputs)
        if raw:
            return out
        res = {}
        for o in self.output_ops:
            t = o.get_output_tensor()
            v = out[o.get_name()]
            res[o.get_name()] = dequantize(v, int(t.get_attr("fix_point"))) if t.has_attr("fix_point") and \
                np.issubdtype(v.dtype, np.integer) else np.asarray(v, np.float32)
        return res

    def execute_async(self, inputs, outputs=None) -> int:
        """Start a job; with ``outputs`` (preallocated arrays) the results are copied into them."""
        def job():
            res = self.execute(inputs)
            if outputs is not None:
                for arr, o in zip(outputs, self.output_ops):
                    np.copyto(arr, res[o.get_name()], casting="unsafe")
            return res
        return self._jobs.submit(job)

    def wait(self, job_id: int, timeout=None):
        return self._jobs.wait(job_id, timeout)


class Runner:
    """VART's DPU runner over one DPU subgraph: int8 NHWC in, int8 NHWC out (``reference``: as for
    :class:`GraphRunner`)."""

    def __init__(self, subgraph: xir.Subgraph, mode: str = "run", arch: str | None = None,
                 reference: bool | None = None):
        if mode != "run":
            raise VairunError(f"runner mode {mode!r} is not supported; use 'run'")
        if not subgraph.has_attr("device") or subgraph.get_attr("device") != "DPU":
            raise VairunError(f"subgraph {subgraph.get_name()} is not a DPU subgraph")
        g = subgraph.get_graph()
        from .model import _plan, _target_of
        self.target = _target_of(g, g.get_name(), arch)
        self.plan = _plan(subgraph, self.target, g.get_name())
        self.subgraph = subgraph
        self._jobs = _Jobs()
        self._machines = MachinePool(reference)

    @staticmethod
    def create_runner(subgraph: xir.Subgraph, mode: str = "run") -> "Runner":
        return Runner(subgraph, mode)

    def get_input_tensors(self) -> list[TensorInfo]:
        g = self.subgraph.get_graph()
        return [_info(g.get_tensor(n), self.target.batch) for n in self.plan.inputs]

    def get_output_tensors(self) -> list[TensorInfo]:
        g = self.subgraph.get_graph()
        return [_info(g.get_tensor(n), self.target.batch) for n in self.plan.outputs]

    def _run(self, inputs, outputs):
        tin = self.get_input_tensors()
        if len(inputs) != len(tin):
            raise VairunError(f"the subgraph takes {len(tin)} input(s), got {len(inputs)}")
        values = {}
        batch = None
        for arr, t in zip(inputs, tin):
            a = np.asarray(arr)
            if a.dtype != np.int8 or list(a.shape[1:]) != t.dims[1:]:
                raise VairunError(f"input '{t.name}' must be int8 with dims [batch]+{t.dims[1:]}, "
                                  f"got {a.dtype} {list(a.shape)}")
            batch = a.shape[0] if batch is None else batch
            values[t.name] = a
        run_dpu(self.plan, self.target, values, batch, pool=self._machines)
        for arr, t in zip(outputs, self.get_output_tensors()):
            np.copyto(arr, values[t.name][: arr.shape[0]])
        return [values[t.name] for t in self.get_output_tensors()]

    def execute_async(self, inputs, outputs) -> int:
        return self._jobs.submit(self._run, inputs, outputs)

    def wait(self, job_id: int, timeout=None):
        return self._jobs.wait(job_id, timeout)
