"""Profile a whole compiled model: its DPU subgraphs run one after another (CPU subgraphs in between
are host work and not part of the DPU time), so the model's DPU timeline is their timelines placed
end to end."""
from __future__ import annotations

from dataclasses import replace

from xir.target import Target

from .model import CompiledModel
from .timing import Profile, profile_program
from .timing.schedule import Event


def profile_model(model: CompiledModel, target: Target | None = None) -> Profile:
    """The model's DPU profile on its own target, or on ``target`` (another board or parameter set
    for the same fingerprint: the streams are not recompiled)."""
    t = target or model.target
    parts = [profile_program(p.instructions, t) for p in model.plans.values()]
    if not parts:
        return Profile(t.name, t.clock_mhz, 0, 0.0, 0.0, {}, {}, t.peak_ops_per_cycle, 0, 0, [], [])
    offset = 0
    events: list[Event] = []
    layers = []
    busy: dict[str, int] = {}
    for p in parts:
        events += [replace(e, start=e.start + offset, end=e.end + offset) for e in p.events]
        layers += [replace(l, start=l.start + offset, end=l.end + offset) for l in p.layers]
        for k, v in p.busy.items():
            busy[k] = busy.get(k, 0) + v
        offset += p.cycles
    cycles = max(offset, 1)
    latency_s = cycles / (t.clock_mhz * 1e6)
    lanes = sum(t.core_batches) if t.core_batches else t.cores * t.batch
    return Profile(t.name, t.clock_mhz, offset, latency_s * 1e3, lanes / latency_s, busy,
                   {k: v / cycles for k, v in busy.items()}, t.peak_ops_per_cycle, sum(p.macs for p in parts),
                   sum(p.ddr_bytes for p in parts), layers, events)
