"""The compiled form of one model: quantizer graph, deploy graph, vaic result, execution plan, and
the forward that runs it.

Rule: a forward computes, for every value the plan asks of torch, exactly what vaiq's test-mode
``quant_model`` computes (``QuantModule.exact_step``, float64 values on their fix grids), and for every
DPU step converts its inputs to the DPU's int8 (NHWC) form, runs the vairun runner, and converts its
outputs back (int8 * 2^-fix_point, NCHW). Both conversions are exact, so the module's outputs equal
``quant_model``'s element for element. A forward keeps its values in local variables, so one module
may be called from several threads at once.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils._pytree import tree_unflatten

from vaiq import VaiqError
from vaiq.export_xmodel import TO_NCHW, TO_NHWC

from .compiled import Compiled, compile_cached, target_of
from .deploy import Deploy, deploy_graph, model_digest
from .errors import WegoError
from .plan import DpuStep, Plan, build_plan
from .quantized import test_quantizer


def to_dpu(v: torch.Tensor, fp: int, nhwc: bool) -> np.ndarray:
    """A fixed value (float64 on its grid) as the DPU holds it: int8, NHWC for 4-D tensors."""
    if nhwc and v.dim() == 4:
        v = v.permute(*TO_NHWC)
    return np.ascontiguousarray(torch.round(v * 2.0 ** fp).to(torch.int8).numpy())


def from_dpu(a: np.ndarray, fp: int, nhwc: bool) -> torch.Tensor:
    """The DPU's int8 value as torch holds it: float64, NCHW."""
    v = torch.from_numpy(a).double() * 2.0 ** -fp
    return v.permute(*TO_NCHW).contiguous() if nhwc and v.dim() == 4 else v


@dataclass
class Core:
    q: object                       # vaiq's test-mode torch_quantizer
    deploy: Deploy
    compiled: Compiled
    plan: Plan
    summary: dict = field(default_factory=dict)

    def __post_init__(self):
        g = self.q.graph
        nodes = {n.name: n for n in g.nodes}
        # each step once resolved: a DpuStep, or (node, position among the model inputs or None)
        self._steps = [s if isinstance(s, DpuStep) else
                       (nodes[s], g.inputs.index(s) if nodes[s].kind == "input" else None) for s in self.plan.steps]

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        g = self.q.graph
        return [tuple(g.input_shapes[i]) for i in g.inputs]

    def check_inputs(self, args) -> None:
        shapes = self.input_shapes
        if len(args) != len(shapes):
            raise WegoError(f"the model takes {len(shapes)} input tensor(s), got {len(args)}")
        for k, (x, want) in enumerate(zip(args, shapes)):
            if not isinstance(x, torch.Tensor):
                raise WegoError(f"input {k} must be a torch.Tensor, got {type(x).__name__}")
            if x.dim() != len(want) or tuple(x.shape[1:]) != tuple(want[1:]):
                raise WegoError(f"input {k} has shape {tuple(x.shape)}; the model takes "
                                f"[batch, {', '.join(str(d) for d in want[1:])}]")

    def run(self, *args):
        self.check_inputs(args)
        q = self.q
        g, qm = q.graph, q.quant_model
        qparams = qm.quantized_params()
        batch = args[0].shape[0]
        vals: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for step in self._steps:
                if isinstance(step, DpuStep):
                    self._run_dpu(step, vals, batch)
                    continue
                n, arg = step
                xs = [args[arg].detach().cpu()] if arg is not None else [vals[i] for i in n.inputs]
                vals[n.name] = qm.exact_step(n, xs, qparams)
            outs = [vals[o].float() for o in g.outputs]
        if g.output_structure is None:
            return outs[0] if len(outs) == 1 else tuple(outs)
        return tree_unflatten(outs, g.output_structure)

    @staticmethod
    def _run_dpu(step: DpuStep, vals, batch: int) -> None:
        ins = [to_dpu(vals[p.node], p.fix_point, p.nhwc) for p in step.inputs]
        outs = [np.empty([batch] + p.dims, np.int8) for p in step.outputs]
        step.runner.wait(step.runner.execute_async(ins, outs))
        for p, a in zip(step.outputs, outs):
            vals[p.node] = from_dpu(a, p.fix_point, p.nhwc)


def build_core(model: torch.nn.Module, args: tuple, quant_dir, target: str, cache_dir, min_ops: int = 1,
               use_cache: bool = True) -> Core:
    """Capture + quantization result (vaiq), deploy graph (vaiq's exporter), compile (vaic, cached),
    plan (vaic's partition, vairun runners)."""
    seconds = {}
    t = time.perf_counter()
    tgt = target_of(target)
    q = test_quantizer(model, args, quant_dir)
    seconds["capture + quantization result (vaiq)"] = time.perf_counter() - t
    t = time.perf_counter()
    built = {}

    def make_deploy():
        t0 = time.perf_counter()
        try:
            d = deploy_graph(q)
        except VaiqError as e:
            raise WegoError(f"the quantized model cannot be written for the compiler: {e}") from None
        built["s"] = time.perf_counter() - t0
        return d
    compiled, deploy = compile_cached(model_digest(q), make_deploy, tgt, cache_dir, use_cache)
    total = time.perf_counter() - t
    if compiled.cached:
        seconds["compiled model from the cache"] = total
    else:
        seconds["deploy graph (vaiq)"] = built["s"]
        seconds["compile (vaic)"] = total - built["s"]
    t = time.perf_counter()
    plan = build_plan(q, deploy, compiled, min_ops)
    q.quant_model.quantized_params()    # computed once here, not by the first (maybe concurrent) calls
    seconds["partition walk + runners (vairun)"] = time.perf_counter() - t
    core = Core(q, deploy, compiled, plan)
    core.summary = make_summary(core, seconds)
    return core


def make_summary(core: Core, seconds: dict) -> dict:
    t = core.compiled.target
    return {
        "model": core.q.graph.name,
        "target": t.name,
        "fingerprint": t.fingerprint_hex,
        "cache": {"key": core.compiled.key, "hit": core.compiled.cached, "path": str(core.compiled.path.parent)},
        "dpu_subgraphs": [{"name": s.name, "ops": s.ops, "op_types": s.op_types,
                           "inputs": [p.node for p in s.inputs], "outputs": [p.node for p in s.outputs]}
                          for s in core.plan.dpu],
        "dpu_subgraphs_run_in_torch": list(core.plan.dpu_not_used),
        "cpu_ops": list(core.plan.cpu_ops),
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
    }
