"""The instruction stream under construction, and its dependency tokens.

Rule (docs/isa.md §3): instructions of different engines are ordered only by tokens, so every
cross-engine hazard on a bank line or DDR byte (read-after-write, write-after-read,
write-after-write) must be covered by a token chain. The emitter reads the stream in its sequential
meaning (stream order), derives each instruction's hazards from what it accesses (``access.py``,
``shadow.Shadow``, which also runs the verifier's access checks) and then places the fewest tokens
that order them:

- an instruction ``j`` of engine ``b`` that must follow ``p`` of engine ``a`` gets ``dpdon`` bit
  ``a`` and ``p`` gets ``dpdby`` bit ``b``, unless ``p`` already happens before ``j`` through the
  engines' order and earlier tokens (vector clocks);
- every token therefore goes from an earlier to a later instruction of the stream (so the stream
  order is an execution order: no deadlock), signals on a channel are consumed in the order they
  are produced (FIFO), and every signal has exactly one consumer (balanced).

So LOAD of tile n+1 (a different buffer) needs no token and overlaps the CONVs of tile n, while
LOAD of tile n+2 into tile n's buffer waits for the last CONV reading it, as in the doc's example.
INIT instructions are emitted only when the state they set changes.
"""
from __future__ import annotations

from xir.isa import Instruction, IsaError, make
from xir.isa.access import ENGINE_ID, INIT_KINDS, InitState, accesses
from xir.isa.shadow import Shadow

from .banks import Banks

_INT = {int}


class Emitter:
    def __init__(self, banks: Banks, ddr_sizes: dict[int, int], inputs=()):
        """``ddr_sizes``: bytes of the DDR registers (CONST is not tracked); ``inputs``: the
        TensorPlaces holding data before the stream starts (interface inputs)."""
        self.banks = banks
        self.instrs: list[Instruction] = []
        self.state = InitState()
        self.shadow = Shadow(banks, {r: s for r, s in ddr_sizes.items() if r != 0}, inputs)
        self.preds = self.shadow.preds          # hazards of every instruction (Shadow.record)
        self.layer: str | None = None
        self._init_cache: dict[tuple, dict] = {}
        self._templates: dict[str, dict] = {}
        self._accesses: dict[tuple, list] = {}   # (kind, INIT token, field values) -> accesses

    # ------------------------------------------------------------------ building
    def emit(self, kind: str, **fields) -> int:
        """Append one instruction (fields are logical values) and derive its hazards. The
        instruction is ``xir.isa.make`` without its per-field type checks (the verifier encodes every
        field): the kind's default fields, updated with ``fields`` as ints; unknown names still
        raise. The accesses of a compute instruction are looked up when the same fields came with the
        same INIT state before (they depend on nothing else)."""
        tpl = self._templates.get(kind)
        if tpl is None:
            tpl = self._templates[kind] = make(kind).fields
        full = tpl.copy()
        full.update(fields)
        if len(full) != len(tpl):
            make(kind, **fields)  # raises IsaError naming the unknown field
            raise IsaError(f"{kind}: unknown field in {sorted(fields)}")
        if set(map(type, fields.values())) - _INT:
            for k, v in fields.items():
                full[k] = int(v)
        ins = Instruction._trusted(kind, full, 0, 0)
        ins.layer = self.layer
        idx = len(self.instrs)
        self.instrs.append(ins)
        state = self.state
        if kind in INIT_KINDS:
            state.update(ins)
            self.shadow.skip()
            return idx
        tok = state.token.get(kind)
        if tok is None:
            acc = accesses(ins, state, self.banks)
        else:
            key = (kind, tok, tuple(full.values()))
            acc = self._accesses.get(key)
            if acc is None:
                acc = self._accesses[key] = accesses(ins, state, self.banks)
        self.shadow.record(idx, ENGINE_ID[kind], self.layer, acc)
        return idx

    def init(self, kind: str, **fields) -> None:
        """Emit an INIT unless the same state is already in force (ELEWINIT: per input_id)."""
        key = (kind, fields.get("input_id", 0)) if kind == "ELEWINIT" else (kind,)
        if self._init_cache.get(key) == fields:
            return
        self._init_cache[key] = dict(fields)
        self.emit(kind, **fields)

    # ------------------------------------------------------------------ tokens
    def finish(self) -> list[Instruction]:
        """Place the dependency tokens, append END and return the stream."""
        instrs, preds = self.instrs, self.preds
        engines = [ENGINE_ID[ins.kind] for ins in instrs]
        pos: list[int] = []
        count = [0, 0, 0, 0]
        done: list[tuple | None] = [None] * len(instrs)   # vector clock at completion
        last = [-1, -1, -1, -1]
        zero = (0, 0, 0, 0)
        for j, b in enumerate(engines):
            lb = last[b]
            clock = done[lb] if lb >= 0 else zero
            pj = preds[j]
            if pj:
                ins = instrs[j]
                for p in reversed(pj):          # latest first: it may order the earlier ones
                    a = engines[p]
                    if a == b or clock[a] > pos[p]:
                        continue
                    instrs[p].dpdby |= 1 << b
                    ins.dpdon |= 1 << a
                    clock = tuple([x if x > y else y for x, y in zip(clock, done[p])])
            n = count[b]
            pos.append(n)
            count[b] = n + 1
            done[j] = clock[:b] + (n + 1,) + clock[b + 1:]
            last[b] = j
        return self.instrs + [make("END")]
