"""The compile summary as WeGO prints it: DPU subgraphs with their op counts, CPU ops with their
reason codes, time per stage (``WegoModule.summary()`` returns the same dict)."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_summary(s: dict, console: Console | None = None) -> None:
    c = console or Console(highlight=False)
    hit = " (compile cache hit)" if s["cache"]["hit"] else ""
    c.print(f"[bold]WeGO-Torch[/bold] {s['model']} on {s['target']} (fingerprint {s['fingerprint']}){hit}")
    t = Table(title="DPU subgraphs (vairun emulator)", title_justify="left")
    for col in ("subgraph", "ops", "op types"):
        t.add_column(col)
    for d in s["dpu_subgraphs"]:
        t.add_row(d["name"], str(d["ops"]), ", ".join(f"{k} x{v}" for k, v in d["op_types"].items()))
    c.print(t)
    if s["cpu_ops"]:
        t = Table(title="CPU ops (torch, vaiq test-mode semantics)", title_justify="left")
        for col in ("op", "kind", "reason code", "reason"):
            t.add_column(col)
        for d in s["cpu_ops"]:
            t.add_row(d["node"], d["kind"], d["code"], d["reason"])
        c.print(t)
    for d in s["dpu_subgraphs_run_in_torch"]:
        c.print(f"DPU subgraph {d['name']} ({d['ops']} ops) runs in torch: {d['reason']}")
    for kind in s.get("extra_accel_not_accelerated", []):
        c.print(f"extra_accel_op_list: {kind} stays on the CPU (the target's DPU does not run it)")
    c.print("time: " + ", ".join(f"{k} {v:.3f} s" for k, v in s["seconds"].items()))
