"""Static checks of a DPU instruction stream against its target and DDR registers: what the compiler
runs on every program it generates and the runner on every compiled model it loads (one definition).

Checks, each failure a :class:`StreamError` naming the instruction index (the first one in stream order):
- every field fits its slot (``xir.isa.encode``, FieldRangeError);
- the tokens are balanced and cannot deadlock: the stream order itself is an execution order with
  no token left over (``_clocks``; otherwise ``xir.isa.run_tokens(..., strict=True)`` names the
  problem);
- every access stays inside the target's banks (bank ids, lines < depth) and the DDR registers;
- every bank line read was written before by an instruction of the same layer (so no two live
  tensors share bank lines), and every DDR byte read holds an interface input or was written by a
  SAVE; reads of CONST are in bounds;
- every cross-engine hazard (read-after-write, write-after-read, write-after-write) on bank lines
  and DDR bytes, taken in stream order (``Shadow.record``), is ordered by the tokens actually
  present in the stream (vector clocks over the FIFO-matched tokens).
The access checks and the hazards come from one pass of ``shadow.Shadow`` over the stream: the
emitter's own (``generate`` passes it, so nothing is derived twice), or a fresh one here.
"""
from __future__ import annotations

from collections import deque

from .access import ENGINE_ID, INIT_KINDS, AccessError, InitState, accesses
from .bankmap import BankMap
from .codec import encode, encode_one
from .errors import IsaError
from .shadow import CONST_REG, Shadow, place_bytes
from .tokens import run_tokens


class StreamError(IsaError):
    """A stream that breaks a rule of this module; ``index`` is the instruction (len(stream): END)."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index




def _bug(i: int, ins, msg: str) -> StreamError:
    where = f" (layer {ins.layer})" if ins is not None and ins.layer else ""
    kind = ins.kind if ins is not None else "END"
    return StreamError(i, f"instruction {i} {kind}{where}: {msg}")


def _clocks(instrs) -> tuple[list[int], list[int], list[list[int]]] | None:
    """Engine, position in its engine and start-time vector clock of every instruction, with the
    tokens matched first-in first-out per channel; None unless the stream order is an execution
    order that leaves no token behind (END last and only there, every wait finds a token signalled
    earlier in the stream, every signal consumed) -- which is what the emitter produces, and which
    implies that the stream finishes and its tokens are balanced."""
    n = len(instrs)
    engines, pos = [], []
    count = [0, 0, 0, 0]
    for ins in instrs:
        e = ENGINE_ID.get(ins.kind, -1)
        engines.append(e)
        if e >= 0:
            pos.append(count[e])
            count[e] += 1
        else:
            pos.append(-1)
    if not n or engines[-1] >= 0 or engines.count(-1) != 1:
        return None
    queues = [[deque() for _ in range(4)] for _ in range(4)]     # [producer][consumer]
    done: list[list[int] | None] = [None] * n
    start: list[list[int]] = [[0, 0, 0, 0]] * n
    last = [-1, -1, -1, -1]
    zero = [0, 0, 0, 0]
    for j in range(n - 1):
        ins = instrs[j]
        b = engines[j]
        lb = last[b]
        clock = done[lb] if lb >= 0 else zero      # never mutated: every clock is a new list
        on = ins.dpdon
        if on:
            for a in range(4):
                if on >> a & 1:
                    q = queues[a][b]
                    if not q:
                        return None
                    clock = [x if x > y else y for x, y in zip(clock, done[q.popleft()])]
        start[j] = clock
        c2 = clock.copy()
        c2[b] = pos[j] + 1
        done[j] = c2
        last[b] = j
        by = ins.dpdby
        if by:
            row = queues[b]
            for c in range(4):
                if by >> c & 1:
                    row[c].append(j)
    if any(q for row in queues for q in row):
        return None
    return engines, pos, start


def check_stream(instrs: list, target, reg_sizes: dict[int, int], inputs=(), outputs=(), *,
                 trace: Shadow | None = None, savers: dict[str, set[str]] | None = None) -> bytes:
    """Check the stream ``instrs`` (module rules); StreamError on the first violation.

    ``reg_sizes``: DDR register id -> bytes (REG_0 the parameters); ``inputs`` / ``outputs``: the
    interface tensors (``reg_id``, ``ddr_addr``, ``dims``, ``pixel_stride``): inputs hold data before
    the stream runs, and every byte of every output must have been written by a SAVE when it ends.
    ``trace`` is the emitter's :class:`Shadow`, which recorded every instruction of the stream (all
    but END) with the same functions (``access.accesses``, ``Shadow.record``) as it built the
    stream, so its hazards and access checks are not derived twice; without it the checks derive
    everything from the instructions' fields. ``savers`` (output name -> layer names), when given, also
    requires the last SAVE of every output byte to come from one of those layers. Returns the encoded
    stream."""
    isa = target.isa
    try:
        blob = encode(instrs, isa)
    except IsaError:
        for i, ins in enumerate(instrs):
            try:
                encode_one(ins, isa)
            except IsaError as e:
                raise _bug(i, ins, str(e)) from None
        raise
    clocks = _clocks(instrs)
    if clocks is None:   # name the problem: a deadlock, tokens left over, a misplaced END ...
        try:
            run_tokens(instrs, strict=True)
        except IsaError as e:
            i = getattr(e, "index", len(instrs) - 1)
            raise _bug(i, instrs[i] if i < len(instrs) else None, str(e)) from None
        raise StreamError(len(instrs) - 1, "a dependency token is consumed before the instruction that signals "
                          "it in stream order (streams place tokens from earlier to later instructions)")
    engines, pos, start = clocks
    sizes = dict(reg_sizes)
    if trace is None:
        trace = _replay(instrs, sizes, inputs, target, engines)
    elif len(trace.preds) != sum(1 for e in engines if e >= 0):
        raise StreamError(len(instrs) - 1, f"the emitter recorded {len(trace.preds)} instructions; the stream "
                          f"has {sum(1 for e in engines if e >= 0)}")
    first = trace.first_violation(sizes.get(CONST_REG, 0))
    stop = first[0] if first is not None else len(instrs)
    for j in range(min(stop, len(trace.preds))):
        sj = start[j]
        for p in trace.preds[j]:
            if not (engines[p] == engines[j] and p < j or sj[engines[p]] > pos[p]):
                raise _bug(j, instrs[j], f"conflicting access by instruction {p} ({instrs[p].kind}, layer "
                                         f"{instrs[p].layer}) is not ordered before it by tokens")
    if first is not None:
        raise _bug(first[0], instrs[first[0]], first[1])
    for t in outputs:
        missing = trace.unsaved(t.reg_id, *place_bytes(t))
        if missing is not None:
            raise StreamError(len(instrs) - 1, f"output {t.name}: byte {missing} of REG_{t.reg_id} (address "
                              f"{t.ddr_addr}) is never written by a SAVE")
        if savers is None or t.name not in savers:
            continue
        others = sorted({instrs[i].layer for i in trace.savers(t.reg_id, *place_bytes(t))} - savers[t.name])
        if others:
            raise StreamError(len(instrs) - 1, f"output {t.name} at REG_{t.reg_id}+{t.ddr_addr} holds what layer "
                              f"{others[0]} saved last, not {t.name}")
    return blob


def _replay(instrs, reg_sizes, inputs, target, engines: list[int]) -> Shadow:
    """Record every instruction of the stream in a fresh shadow (an instruction whose fields cannot
    be interpreted is the violation, and recording stops there)."""
    banks = BankMap(target)
    shadow = Shadow(banks, {r: s for r, s in reg_sizes.items() if r != CONST_REG}, inputs, target.name)
    state = InitState()
    for j, ins in enumerate(instrs):
        if engines[j] < 0:
            break
        if ins.kind in INIT_KINDS:
            state.update(ins)
            shadow.skip()
            continue
        try:
            acc = accesses(ins, state, banks)
        except AccessError as e:
            if shadow.violation is None:
                shadow.violation = (j, -1, str(e))
            break
        shadow.record(j, engines[j], ins.layer, acc)
    return shadow
