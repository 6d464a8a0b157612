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

from .engines import Engine, engine_of, format_mask
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
    bits = [tuple(b for b in range(4) if m >> b & 1) for m in range(16)]
    waits = [bits[x.dpdon & 0xF] for x in instrs]
    signals = [bits[x.dpdby & 0xF] for x in instrs]
    tokens = [[0] * 4 for _ in range(4)]  # tokens[producer][consumer]
    lists = [queues[e] for e in Engine]
    heads = [0, 0, 0, 0]
    order: list[int] = []
    total = sum(len(q) for q in lists)
    while len(order) < total:
        best, best_e = -1, -1
        for e in range(4):
            q, h = lists[e], heads[e]
            if h < len(q):
                i = q[h]
                if (best < 0 or i < best) and all(tokens[src][e] for src in waits[i]):
                    best, best_e = i, e
        if best < 0:
            i, e = min((lists[e][heads[e]], e) for e in range(4) if heads[e] < len(lists[e]))
            missing = [Engine(src).name for src in waits[i] if tokens[src][e] == 0]
            raise DependencyError(i, f"{instrs[i].kind} waits on dpdon={format_mask(instrs[i].dpdon)} but no "
                                     f"instruction can ever signal "
                                     f"{', '.join(m + '->' + Engine(e).name for m in missing)}; "
                                     f"the stream deadlocks (add the matching dpdby or drop the wait)")
        for src in waits[best]:
            tokens[src][best_e] -= 1
        for dst in signals[best]:
            tokens[best_e][dst] += 1
        heads[best_e] += 1
        order.append(best)
    if end_index is not None:
        order.append(end_index)
    leftover = {(Engine(a), Engine(b)): tokens[a][b] for a in range(4) for b in range(4) if tokens[a][b]}
    if strict and leftover:
        (src, dst), n = next(iter(leftover.items()))
        raise DependencyError(len(instrs) - 1, f"{n} token(s) on channel {src.name}->{dst.name} are never "
                                               f"consumed; every dpdby needs a matching dpdon")
    return TokenRun(tuple(order), leftover)
