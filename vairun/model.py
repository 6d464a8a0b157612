"""Loading a compiled model for running: checksum, target, fingerprint, subgraph plans.

Rules:
- a ``md5sum.txt`` beside the model must match its bytes (a model edited after compiling is refused,
  as on a board);
- the emulated machine is the one the model was compiled for (``arch_json``); ``arch`` may name
  another board of the same DPU (other clock or cores), never silently another fingerprint: a
  mismatch is an error, as "CHECK fingerprint fail" is on real hardware;
- every DPU subgraph is checked structurally before anything runs (``xir.compiled``: registers,
  addresses, layer indices, interface places and the whole stream against the target).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import xir
from xir.compiled import child_subgraphs, read_dpu_program, recorded_target
from xir.errors import XModelError
from xir.files import read_bytes, read_text
from xir.target import Target, TargetError, load_target

from .errors import VairunError


@dataclass
class DpuPlan:
    """What the emulator needs for one DPU subgraph."""
    subgraph: xir.Subgraph
    instructions: list
    reg_sizes: dict[int, int]
    const: bytes
    inputs: dict[str, tuple[int, int, int]]    # tensor -> (reg_id, ddr_addr, fix_point)
    outputs: dict[str, tuple[int, int, int]]
    code: bytes = b""                          # the stream as stored (mc_code): what the runner executes


def _md5_check(path: Path, data: bytes) -> None:
    side = path.parent / "md5sum.txt"
    if not os.path.lexists(side):
        return
    text = read_text(side, "checksum file (md5sum.txt)").strip()
    want = text.split()[0] if text else ""
    have = hashlib.md5(data).hexdigest()
    if want != have:
        raise VairunError(f"{path}: checksum mismatch with {side} (md5 {have}, expected {want}); the model "
                          "changed after compiling: recompile it or restore the file")


def _target_of(g: xir.Graph, where: str, arch: str | None) -> Target:
    compiled = recorded_target(g, where)
    if arch is None:
        return compiled
    try:
        chosen = load_target(arch)
    except TargetError as e:
        raise VairunError(str(e)) from None
    if chosen.fingerprint != compiled.fingerprint:
        raise VairunError(f"fingerprint mismatch: {where} was compiled for {compiled.name} "
                          f"({compiled.fingerprint_hex}) but --arch {arch} is {chosen.name} "
                          f"({chosen.fingerprint_hex}); recompile for that target")
    return chosen


def _plan(sg: xir.Subgraph, target: Target, where: str) -> DpuPlan:
    img = read_dpu_program(sg, target, where)
    return DpuPlan(sg, img.instructions, img.reg_sizes, img.const,
                   {p.name: (p.reg_id, p.ddr_addr, p.fix_point) for p in img.inputs},
                   {p.name: (p.reg_id, p.ddr_addr, p.fix_point) for p in img.outputs},
                   bytes(sg.get_attr("mc_code")))


@dataclass
class CompiledModel:
    path: Path
    graph: xir.Graph
    target: Target
    subgraphs: list[xir.Subgraph]
    plans: dict[str, DpuPlan]


def load_compiled(path, arch: str | None = None, verify: bool = True) -> CompiledModel:
    p = Path(path)
    if not p.exists():
        raise VairunError(f"{p}: no such file")
    if p.is_dir():
        raise VairunError(f"{p}: is a directory; give the compiled <net>.xmodel inside it")
    data = read_bytes(p, "compiled model")
    if verify:
        _md5_check(p, data)
    return compiled_from_bytes(data, p, arch)


def compiled_from_bytes(data: bytes, path, arch: str | None = None) -> CompiledModel:
    """A compiled model from its file's bytes (``path`` names it in messages): how workers that
    received the model through a pipe or an object store load it, without a shared file system."""
    p = Path(path)
    try:
        g = xir.Graph.from_bytes(data, str(p))
    except XModelError as e:
        raise VairunError(str(e)) from None
    subs = child_subgraphs(g, str(p))
    target = _target_of(g, str(p), arch)
    plans = {s.get_name(): _plan(s, target, str(p)) for s in subs if s.get_attr("device") == "DPU"}
    return CompiledModel(p, g, target, subs, plans)
