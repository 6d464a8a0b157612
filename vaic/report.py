"""What vaic prints: the compile log, ``vaic inspect`` and ``vaic disasm``.

Rule: the log names the passes run, gives "Total device subgraph number N, DPU subgraph number M"
(the line vai_c_xir prints) and one line per CPU op with its reason, and ends with the one-screen
summary of xir.target.reasons (CPU ops by reason code, and what to change).
"""
from __future__ import annotations

import json
from pathlib import Path

import xir
from xir.errors import XModelError
from xir.compiled import child_subgraphs, read_dpu_program, recorded_target
from xir.isa import disassemble
from xir.target.reasons import CpuOp, split_reason, summary_lines

from .errors import VaicError


def compile_log(result, files) -> list[str]:
    t = result.target
    lines = [f"[vaic] target {t.name} ({t.board or 'no board'}, fingerprint {t.fingerprint_hex}, isa {t.isa})"]
    lines += [f"[vaic] {entry}" for entry in result.log]
    for pass_name, sec in result.seconds.items():
        lines.append(f"[vaic] pass {pass_name}: {sec * 1e3:.0f} ms")
    subs = result.subgraphs
    dpu = result.dpu_subgraphs
    lines.append(f"[vaic] Total device subgraph number {len(subs)}, DPU subgraph number {len(dpu)}")
    for sg in subs:
        if sg.get_attr("device") == "CPU":
            for op, why in sg.get_attr("cpu_reasons").items():
                lines.append(f"[vaic] CPU op {op}: {why}")
    for sg in dpu:
        prog = result.programs[sg.get_name()]
        lines.append(f"[vaic] DPU subgraph {sg.get_name()}: {len(prog.instructions)} instructions, "
                     f"{sum(l.workload for l in prog.layers) / 1e6:.1f} MOPs, "
                     f"registers {', '.join(f'REG_{r}={n}' for r, n in sorted(prog.reg_sizes.items()))}")
    for name, path in files.items():
        lines.append(f"[vaic] wrote {path}")
    lines += [f"[vaic] {line}" for line in summary(result)]
    return lines


def summary(result) -> list[str]:
    """The one-screen summary the log ends with (xir.target.reasons): DPU subgraphs, CPU ops by reason
    code with counts, and what the user can change for each."""
    g = result.graph
    cpu = []
    for sg in result.subgraphs:
        if sg.get_attr("device") != "CPU":
            continue
        for op, why in sg.get_attr("cpu_reasons").items():
            kind = g.get_op(op).get_type()
            if kind in ("fix2float", "float2fix"):    # they come and go with the float op they serve
                continue
            cpu.append(CpuOp(op, kind, split_reason(why)[0]))
    n_cpu = sum(sg.get_attr("device") == "CPU" for sg in result.subgraphs)
    return summary_lines(len(result.dpu_subgraphs), n_cpu, cpu)


def _load(path) -> tuple[xir.Graph, dict]:
    """The compiled graph and its DPU programs, checked (xir.compiled) before anything is printed."""
    try:
        g = xir.Graph.deserialize(path)
    except XModelError as e:
        raise VaicError(str(e)) from None
    subs = child_subgraphs(g, str(path))
    target = recorded_target(g, str(path))
    return g, {s.get_name(): read_dpu_program(s, target, str(path)) for s in subs if s.get_attr("device") == "DPU"}


def inspect_model(path, json_file=None) -> dict:
    from rich.console import Console
    from rich.table import Table

    g, programs = _load(path)
    report = {"graph": g.get_name(), "target": g.get_attr("target") if g.has_attr("target") else None,
              "subgraphs": []}
    console = Console()
    for sg in g.get_root_subgraph().toposort_child_subgraph():
        dev = sg.get_attr("device")
        entry = {"name": sg.get_name(), "device": dev,
                 "ops": [{"name": o.get_name(), "type": o.get_type(),
                          **{k: o.get_attr(k) for k in ("workload", "workload_on_arch") if o.has_attr(k)}}
                         for o in sg.get_ops()]}
        if dev == "CPU":
            entry["cpu_reasons"] = sg.get_attr("cpu_reasons") if sg.has_attr("cpu_reasons") else {}
        if dev == "DPU":
            entry.update({k: sg.get_attr(k) for k in ("dpu_name", "workload", "workload_on_arch", "reg_id_to_size",
                                                      "reg_id_to_context_type_v2") if sg.has_attr(k)})
            entry["instructions"] = len(programs[sg.get_name()].instructions)
            entry["dpu_fingerprint"] = hex(sg.get_attr("dpu_fingerprint"))
        report["subgraphs"].append(entry)
        table = Table(title=f"{sg.get_name()} [{dev}]")
        table.add_column("op")
        table.add_column("type")
        table.add_column("note")
        if dev == "DPU":
            table.add_column("MOPs", justify="right")
            table.add_column("on arch", justify="right")
        reasons = entry.get("cpu_reasons", {})
        for o in sg.get_ops():
            t = o.get_output_tensor()
            note = reasons.get(o.get_name(), "")
            if dev == "DPU" and t.has_attr("reg_id"):
                note = f"REG_{t.get_attr('reg_id')}+{t.get_attr('ddr_addr')} fix {t.get_attr('fix_point')}"
            if dev == "DPU":
                wl = o.get_attr("workload") / 1e6 if o.has_attr("workload") else None
                wa = o.get_attr("workload_on_arch") / 1e6 if o.has_attr("workload_on_arch") else None
                table.add_row(o.get_name(), o.get_type(), note, "" if wl is None else f"{wl:.2f}",
                              "" if wa is None else f"{wa:.2f}")
            else:
                table.add_row(o.get_name(), o.get_type(), note)
        console.print(table)
        if dev == "DPU":
            console.print(f"  workload {entry.get('workload', 0) / 1e6:.2f} MOPs, on arch "
                          f"{entry.get('workload_on_arch', 0) / 1e6:.2f} MOPs, {entry['instructions']} instructions, "
                          f"DDR {entry.get('reg_id_to_size')}")
    if json_file:
        Path(json_file).write_text(json.dumps(report, indent=2) + "\n")
    return report


def disassemble_model(path, only: str | None = None) -> str:
    g, programs = _load(path)
    out = []
    dpus = [s for s in g.get_root_subgraph().toposort_child_subgraph() if s.get_attr("device") == "DPU"]
    if only and only not in [s.get_name() for s in dpus]:
        raise VaicError(f"no DPU subgraph named '{only}'; DPU subgraphs: {[s.get_name() for s in dpus]}")
    for sg in dpus:
        if only and sg.get_name() != only:
            continue
        instrs = programs[sg.get_name()].instructions
        name = sg.get_attr("dpu_name") if sg.has_attr("dpu_name") else sg.get_attr("isa")
        out.append(f"; subgraph {sg.get_name()} ({name}, {len(instrs)} instructions)\n")
        out.append(disassemble(instrs, sg.get_attr("isa"), annotations={i: ins.layer for i, ins in enumerate(instrs)}))
        if not out[-1].endswith("\n"):
            out.append("\n")
    return "".join(out)
