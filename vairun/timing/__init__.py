"""Timing model of the emulated DPU: cycles, latency, frames/s, engine utilisation, per-layer figures.

``profile_program(instrs, target)`` needs no data (timing-only mode); the functional emulator is not
involved. The model and its parameters are documented in docs/timing.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from xir.target import Target

from .schedule import ENGINES, Event, Schedule, schedule


@dataclass
class LayerTiming:
    name: str
    cycles: int = 0           # span: first start to last end of its instructions
    start: int = 0
    end: int = 0
    busy: dict[str, int] = field(default_factory=dict)
    macs: int = 0
    ddr_bytes: int = 0
    instructions: int = 0

    def ops_per_cycle(self) -> float:
        return 2 * self.macs / self.cycles if self.cycles else 0.0


@dataclass
class Profile:
    target: str
    clock_mhz: float
    cycles: int
    latency_ms: float
    fps: float
    busy: dict[str, int]
    utilization: dict[str, float]
    peak_ops_per_cycle: int
    macs: int
    ddr_bytes: int
    layers: list[LayerTiming]
    events: list[Event]

    def to_dict(self, with_events: bool = False) -> dict:
        d = {"target": self.target, "clock_mhz": self.clock_mhz, "cycles": self.cycles,
             "latency_ms": self.latency_ms, "fps": self.fps, "busy_cycles": self.busy,
             "utilization": self.utilization, "peak_ops_per_cycle": self.peak_ops_per_cycle,
             "macs": self.macs, "ops": 2 * self.macs, "ddr_bytes": self.ddr_bytes,
             "achieved_ops_per_cycle": 2 * self.macs / self.cycles if self.cycles else 0.0,
             "layers": [{"name": l.name, "cycles": l.cycles, "start": l.start, "end": l.end, "busy": l.busy,
                         "macs": l.macs, "ops_per_cycle": l.ops_per_cycle(), "ddr_bytes": l.ddr_bytes,
                         "instructions": l.instructions} for l in self.layers]}
        if with_events:
            d["events"] = [[e.engine, e.start, e.end, e.layer, e.kind] for e in self.events]
        return d


def summarize(s: Schedule, target: Target) -> Profile:
    layers: dict[str, LayerTiming] = {}
    for e in s.events:
        if e.engine == "-":
            continue
        lt = layers.get(e.layer)
        if lt is None:
            lt = layers[e.layer] = LayerTiming(e.layer, start=e.start, end=e.end, busy={k: 0 for k in ENGINES})
        lt.start, lt.end = min(lt.start, e.start), max(lt.end, e.end)
        lt.busy[e.engine] += e.end - e.start
        lt.macs += e.macs
        lt.ddr_bytes += e.ddr_bytes
        lt.instructions += 1
    for lt in layers.values():
        lt.cycles = lt.end - lt.start
    total = s.total_cycles + target.overheads.job
    latency_s = max(total, 1) / (target.clock_mhz * 1e6)
    images_in_flight = sum(target.core_batches) if target.core_batches else target.cores * target.batch
    cycles = max(total, 1)
    return Profile(target.name, target.clock_mhz, total, latency_s * 1e3, images_in_flight / latency_s,
                   dict(s.busy), {k: v / cycles for k, v in s.busy.items()}, target.peak_ops_per_cycle,
                   sum(l.macs for l in layers.values()), sum(l.ddr_bytes for l in layers.values()),
                   sorted(layers.values(), key=lambda l: l.start), s.events)


def profile_program(instrs, target: Target) -> Profile:
    """Timing-only profile of one DPU instruction stream on ``target`` (one image per core lane)."""
    return summarize(schedule(instrs, target), target)


__all__ = ["Profile", "LayerTiming", "profile_program", "schedule", "summarize", "ENGINES"]
