"""The cycle model: four engines, each in order, synchronised only by dependency tokens.

Rule (docs/isa.md §3, docs/timing.md): an instruction starts when its engine is free and, for each
engine bit in ``dpdon``, the oldest undelivered token of that channel has been delivered; it keeps its
engine busy for its cost; its ``dpdby`` tokens are delivered at its end plus its latency (DDR round
trip for LOAD/SAVE). END finishes when every engine and token has finished. The simulation follows a
valid sequential order of the token protocol (xir.isa.run_tokens), in which every token is produced
before it is consumed, so one pass computes every start time.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from xir.isa import Engine, engine_of, run_tokens
from xir.target import Target

from .costs import CostModel

ENGINES = ("LOAD", "SAVE", "CONV", "MISC")


@dataclass
class Event:
    index: int
    kind: str
    engine: str
    start: int
    end: int
    layer: str
    macs: int
    ddr_bytes: int


@dataclass
class Schedule:
    events: list[Event]
    total_cycles: int
    busy: dict[str, int] = field(default_factory=dict)


def schedule(instrs, target: Target) -> Schedule:
    order = run_tokens(instrs, strict=False).order
    costs = CostModel(target)
    free = {e: 0 for e in Engine}
    channels: dict[tuple[int, int], deque] = {(a, b): deque() for a in range(4) for b in range(4)}
    events: list[Event | None] = [None] * len(instrs)
    busy = {name: 0 for name in ENGINES}
    finish = 0
    # INIT state must follow each engine's own order, which `order` respects per engine
    for i in order:
        ins = instrs[i]
        c = costs.cost(ins)
        eng = engine_of(ins.kind)
        if eng is None:  # END
            events[i] = Event(i, ins.kind, "-", finish, finish, ins.layer or "", 0, 0)
            continue
        me = int(eng)
        start = free[eng]
        for b in range(4):
            if ins.dpdon >> b & 1:
                start = max(start, channels[(b, me)].popleft())
        end = start + c.cycles
        free[eng] = end
        for b in range(4):
            if ins.dpdby >> b & 1:
                channels[(me, b)].append(end + c.latency)
        busy[ENGINES[me]] += c.cycles
        finish = max(finish, end + c.latency)
        events[i] = Event(i, ins.kind, ENGINES[me], start, end, ins.layer or "", c.macs, c.ddr_bytes)
    return Schedule([e for e in events if e is not None], finish, busy)
