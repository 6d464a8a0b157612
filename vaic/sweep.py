"""``vaic sweep``: compile one quantized model for many targets and time each on the emulated DPU.

Layering (README.md, Layout): vaic does not import vairun. Each target is compiled here, in-process, and
timed by ``vairun profile --json`` (timing-only) run as a subprocess: the runtime's command line,
files in and files out.

Rules:
- targets: ``all`` (every compilable FAMILY/BOARD of the arch library), a family name (its boards), or
  a comma list of FAMILY/BOARD names and families; plus any arch.json paths given with ``--arch``;
- each target's job is independent; one that fails (compile error, compiler bug, runtime error) is
  a row with its error, and the sweep goes on;
- jobs run on a local process pool (``--workers``, default the CPU count) or as Ray tasks (``--ray``);
  the quantized model travels to Ray workers through the object store, each job compiles into its
  own temporary folder;
- rows are sorted by latency (fastest first), failures last in target order.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from xir.target import TargetError, load_target
from xir.target.catalog import natural_key
from xir.target.loader import list_targets

from .errors import VaicError


def library_boards() -> dict[str, str]:
    """Every compilable FAMILY/BOARD of the arch library -> its family."""
    out = {}
    for key in list_targets():
        t = load_target(key)
        if t.compilable:
            out[key] = key.split("/")[0]
    return out


def choose_targets(spec: str | None, arch_paths=()) -> list[str]:
    """The targets a sweep covers (see the module rules); VaicError for a name it does not know."""
    boards = library_boards()
    families = sorted({f for f in boards.values()})
    chosen: list[str] = []
    if spec is None:
        spec = "" if arch_paths else "all"
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        if item.lower() == "all":
            chosen += list(boards)
            continue
        fam = {f.upper(): f for f in families}.get(item.upper())
        key = {b.upper(): b for b in boards}.get(item.strip("/").upper())
        if fam:
            chosen += [b for b, f in boards.items() if f == fam]
        elif key:
            chosen.append(key)
        else:
            try:
                t = load_target(item)
            except TargetError:
                raise VaicError(f"--targets: unknown target {item!r}; give all, a family "
                                f"({', '.join(families)}) or FAMILY/BOARD names (vaic sweep --help)") from None
            chosen.append(t.key or item)
    for p in arch_paths:
        if not Path(p).exists():
            raise VaicError(f"--arch {p}: no such arch.json; give a path to an arch.json file")
        chosen.append(str(p))
    seen = set()
    unique = [t for t in chosen if not (t in seen or seen.add(t))]
    if not unique:
        raise VaicError("no targets chosen; give --targets all|FAMILY|LIST or --arch ARCH.json")
    return unique


def sweep_one(model_bytes: bytes, model_name: str, target: str) -> dict:
    """Compile for ``target`` and profile it; a row with the figures, or with ``error``."""
    from xir.errors import XirError
    from .errors import CompilerBug
    from .pipeline import compile_graph
    from .writer import write_outputs
    row: dict = {"target": target}
    with tempfile.TemporaryDirectory(prefix="vaic-sweep-") as tmp:
        src = Path(tmp) / model_name
        src.write_bytes(model_bytes)
        try:
            res = compile_graph(src, target)
            files = write_outputs(res, Path(tmp) / "out", "net")
        except (VaicError, XirError, TargetError) as e:
            return {**row, "error": f"compile: {e}"}
        except CompilerBug as e:
            return {**row, "error": f"compiler bug: {e}"}
        except Exception as e:
            return {**row, "error": f"compile: internal error: {type(e).__name__}: {e}"}
        t = res.target
        row.update(name=t.name, board=t.board, dpu_subgraphs=len(res.dpu_subgraphs),
                   cpu_ops=sum(len(s.get_attr("cpu_reasons")) for s in res.subgraphs
                               if s.get_attr("device") == "CPU" and s.has_attr("cpu_reasons")))
        prof = Path(tmp) / "profile.json"
        cmd = [sys.executable, "-m", "vairun.cli", "profile", str(files["net.xmodel"]), "--json", str(prof), "--quiet"]
        r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, VAIRUN_EMU_THREADS="1"))
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or [f"exit code {r.returncode}"])[-1]
            return {**row, "error": f"profile: {last}"}
        p = json.loads(prof.read_text())
    row.update(latency_ms=p["latency_ms"], fps=p["fps"], cycles=p["cycles"], clock_mhz=p["clock_mhz"],
               ops_per_cycle=p["achieved_ops_per_cycle"], peak_ops_per_cycle=p["peak_ops_per_cycle"],
               utilization=p["achieved_ops_per_cycle"] / p["peak_ops_per_cycle"] if p["peak_ops_per_cycle"] else 0.0,
               conv_busy=p["utilization"].get("CONV", 0.0))
    return row


def _sort(rows: list[dict], order: list[str]) -> list[dict]:
    ok = sorted((r for r in rows if "error" not in r), key=lambda r: (r["latency_ms"], natural_key(r["target"])))
    bad = sorted((r for r in rows if "error" in r), key=lambda r: order.index(r["target"]))
    return ok + bad


def run_sweep(model, targets: list[str], workers: int | None = None, ray: str | None = None,
              on_row=None) -> list[dict]:
    """Every target's row, sorted (see the module rules); ``on_row(row)`` as each finishes."""
    from xir.scaleout import cluster_cpus, default_workers, ray_session
    path = Path(model)
    if not path.is_file():
        raise VaicError(f"{path}: no such quantized model; give the <Net>_int.xmodel from vaiq")
    data = path.read_bytes()
    rows: list[dict] = []

    def got(row):
        rows.append(row)
        if on_row is not None:
            on_row(row)

    if ray is None:
        n = min(workers or default_workers(), len(targets))
        import multiprocessing as mp
        with ProcessPoolExecutor(n, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(sweep_one, data, path.name, t): t for t in targets}
            from concurrent.futures import as_completed
            for f in as_completed(futures):
                try:
                    got(f.result())
                except Exception as e:         # a worker that died (BrokenProcessPool) fails its targets only
                    got({"target": futures[f], "error": f"worker failed: {type(e).__name__}: {e}"})
    else:
        with ray_session(ray, workers) as mod:
            limit = workers or cluster_cpus(mod)
            task = mod.remote(num_cpus=1, max_retries=2)(sweep_one)
            ref = mod.put(data)
            pending, queue = [], list(targets)
            names = {}
            while queue or pending:
                while queue and len(pending) < limit:
                    t = queue.pop(0)
                    r = task.remote(ref, path.name, t)
                    names[r] = t
                    pending.append(r)
                done, pending = mod.wait(pending, num_returns=1)
                for r in done:
                    try:
                        got(mod.get(r))
                    except Exception as e:
                        got({"target": names[r], "error": f"Ray task failed: {type(e).__name__}: {e}"})
    return _sort(rows, targets)
