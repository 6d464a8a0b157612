"""The dependency-token protocol, executed abstractly: does a stream finish, and in what order may
its instructions run?

Rules (the contract the emulator's scheduler and the compiler's verifier follow):

1. Each engine runs its own instructions in stream order, one at a time; instructions of different
   engines are ordered ONLY by tokens (never by their positions in the stream).
2. Before an instruction starts it takes one token from channel (e -> own engine) for every bit e of
   ``dpdon``, waiting until each is available; after it completes it adds one token to channel
   (own engine -> e) for every bit e of ``dpdby``. Channels are unbounded counters.
3. END is the last instruction; it starts when every other instruction has completed.

Each channel has one producing and one consuming engine, so whether a stream finishes does not
depend on timing: a greedy run that always starts the runnable instruction with the smallest index
decides it, and its order is a valid sequential execution order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .engines import Engine, engine_of, format_mask, mask_engines
from .errors import DependencyError
from .instruction import Instruction


@dataclass(frozen=True)
class TokenRun:
    """Result of :func:`run_tokens`: a valid execution order (instruction indices) and the tokens left
    on each channel (producer, consumer) when the stream finished."""

    order: tuple[int, ...]
    leftover: dict[tuple[Engine, Engine], int]


def run_tokens(instrs: Sequence[Instruction], *, require_end: bool = True, strict: bool = False) -> TokenRun:
    """Run the token protocol over ``instrs`` with zero-time instructions.

    Raises DependencyError on a deadlock (naming the first blocked instruction and the channel it
    waits on), on a misplaced or missing END, and with ``strict`` when tokens are left unconsumed.
    """
    queues: dict[Engine, list[int]] = {e: [] for e in Engine}
    end_index = None
    for i, instr in enumerate(instrs):
        engine = engine_of(instr.kind)
        if end_index is not None:
            raise DependencyError(i, f"{instr.kind} follows END at index {end_index}; END must be last")
        if engine is None:
            end_index = i
            continue
        queues[engine].append(i)
    if require_end and end_index is None:
        raise DependencyError(len(instrs), "the stream has no END; append one")
    tokens = {(a, b): 0 for a in Engine for b in Engine}
    heads = {e: 0 for e in Engine}
    order: list[int] = []

    def runnable(e: Engine) -> bool:
        q = queues[e]
        if heads[e] >= len(q):
            return False
        instr = instrs[q[heads[e]]]
        return all(tokens[(src, e)] > 0 for src in mask_engines(instr.dpdon))

    total = sum(len(q) for q in queues.values())
    while len(order) < total:
        ready = [e for e in Engine if runnable(e)]
        if not ready:
            blocked = min((queues[e][heads[e]], e) for e in Engine if heads[e] < len(queues[e]))
            i, e = blocked
            missing = [src.name for src in mask_engines(instrs[i].dpdon) if tokens[(src, e)] == 0]
            raise DependencyError(i, f"{instrs[i].kind} waits on dpdon={format_mask(instrs[i].dpdon)} but no "
                                     f"instruction can ever signal {', '.join(m + '->' + e.name for m in missing)}; "
                                     f"the stream deadlocks (add the matching dpdby or drop the wait)")
        e = min(ready, key=lambda eng: queues[eng][heads[eng]])
        i = queues[e][heads[e]]
        instr = instrs[i]
        for src in mask_engines(instr.dpdon):
            tokens[(src, e)] -= 1
        for dst in mask_engines(instr.dpdby):
            tokens[(e, dst)] += 1
        heads[e] += 1
        order.append(i)
    if end_index is not None:
        order.append(end_index)
    leftover = {k: v for k, v in tokens.items() if v}
    if strict and leftover:
        (src, dst), n = next(iter(leftover.items()))
        raise DependencyError(len(instrs) - 1, f"{n} token(s) on channel {src.name}->{dst.name} are never "
                                               f"consumed; every dpdby needs a matching dpdon")
    return TokenRun(tuple(order), leftover)
