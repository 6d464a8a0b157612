"""The compiler driver: frontend -> canonicalize -> options -> split grouped convs (target-aware) ->
partition -> backend per DPU subgraph.

Rule: a layer the backend cannot tile goes to the CPU with reason NOT_TILED and the graph is
partitioned again, so a model that cannot run wholly on the DPU still compiles; user errors raise
VaicError (one line), internal inconsistencies CompilerBug.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import xir
from xir.target import Target, TargetError, load_target
from xir.transforms import canonicalize

from . import backend
from .errors import VaicError
from .gcscope import young_objects_only
from .passes.frontend import check_fix_positions, load_model
from .passes.boundaries import insert_boundaries
from .passes.partition import make_subgraphs, partition
from .passes.split_groups import split_groups
from .passes.support import Placement
from .options import CompileOptions, apply_options


@dataclass
class CompileResult:
    graph: xir.Graph
    target: Target
    programs: dict[str, object] = field(default_factory=dict)     # DPU subgraph name -> DpuProgram
    placements: dict[str, Placement] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def subgraphs(self) -> list[xir.Subgraph]:
        return self.graph.get_root_subgraph().toposort_child_subgraph()

    @property
    def dpu_subgraphs(self) -> list[xir.Subgraph]:
        return [s for s in self.subgraphs if s.get_attr("device") == "DPU"]


def resolve_target(arch: str) -> Target:
    try:
        t = load_target(arch)
    except TargetError as e:
        raise VaicError(str(e)) from None
    if not t.compilable:
        raise VaicError(f"target {t.name} is for hardware-aware quantization only (vaiq --target); "
                        "compile for a DPU target such as DPUCZDX8G/KV260")
    return t


def compile_graph(path, arch: str, options: CompileOptions | None = None) -> CompileResult:
    with young_objects_only():
        return _compile_graph(path, arch, options)


def _compile_graph(path, arch: str, options: CompileOptions | None) -> CompileResult:
    t0 = time.perf_counter()
    target = resolve_target(arch)
    g = load_model(path)
    times = {"frontend": time.perf_counter() - t0}
    t1 = time.perf_counter()
    h, log = canonicalize(g)
    check_fix_positions(h)
    log += apply_options(h, options or CompileOptions())
    log += split_groups(h, target)
    times["canonicalize"] = time.perf_counter() - t1
    generated = frozenset(backend.GENERATED)
    forced: dict[str, Placement] = {}
    t2 = time.perf_counter()
    for _ in range(64):
        groups, where = partition(h, target, generated, forced, (options or CompileOptions()).merge_independent)
        lonely = [o for grp in groups if grp.device == "DPU" and
                  all(where[o.get_name()].code == "ALIAS" for o in grp.ops if o.get_type() != "const-fix")
                  for o in grp.ops if o.get_type() != "const-fix"]
        if lonely:  # a reshape alone has nothing to compute on the DPU: it joins the CPU side
            for o in lonely:
                forced[o.get_name()] = Placement("CPU", "ALIAS_ONLY", "a reshape or slice with no DPU op around it")
            continue
        subs = make_subgraphs(h, groups, where)
        boundary_log = insert_boundaries(h, subs)
        programs = {}
        retry = False
        for sg in subs:
            if sg.get_attr("device") != "DPU":
                continue
            try:
                programs[sg.get_name()] = backend.generate(sg, h, target)
            except backend.TilingError as e:
                forced[e.op_name] = Placement("CPU", "NOT_TILED", e.reason)
                log.append(f"tiling: {e.op_name} moved to the CPU: {e.reason}")
                retry = True
                break
        if not retry:
            log += boundary_log
            break
        _remove_boundaries(h)
    else:
        raise VaicError("the partitioner did not settle after 64 rounds")
    times["partition+backend"] = time.perf_counter() - t2
    res = CompileResult(h, target, programs, where, log, times)
    return res


def _remove_boundaries(g: xir.Graph) -> None:
    """Undo insert_boundaries before partitioning again."""
    for op in [o for o in g.toposort() if o.get_type() in ("upload", "download")]:
        g.replace_uses(op, op.get_input_op("input"))
        g.remove_op(op)
