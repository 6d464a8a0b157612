"""The instruction stream under construction, and its dependency tokens.

Rule (docs/isa.md §3): instructions of different engines are ordered only by tokens, so every
cross-engine hazard on a bank line or DDR byte (read-after-write, write-after-read,
write-after-write) must be covered by a token chain. The emitter reads the stream in its sequential
meaning (stream order), derives each instruction's hazards from what it accesses (``access.py``,
shadow memory) and then places the fewest tokens that order them:

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

from xir.isa import ENGINE_OF_KIND, Instruction, IsaError, make

from .access import INIT_KINDS, InitState, accesses, conflicts
from .banks import Banks
from .shadow import Shadow


class Emitter:
    def __init__(self, banks: Banks, ddr_sizes: dict[int, int]):
        self.banks = banks
        self.instrs: list[Instruction] = []
        self.preds: list[tuple[int, ...]] = []
        self.accesses: list[list[tuple]] = []
        self.state = InitState()
        self.shadow = Shadow(banks, {r: s for r, s in ddr_sizes.items() if r != 0})
        self.layer: str | None = None
        self._init_cache: dict[tuple, dict] = {}
        self._templates: dict[str, dict] = {}

    # ------------------------------------------------------------------ building
    def _make(self, kind: str, fields: dict) -> Instruction:
        """``xir.isa.make`` without its per-field type checks (the verifier encodes every field):
        the kind's default fields, updated with ``fields``; unknown names still raise."""
        tpl = self._templates.get(kind)
        if tpl is None:
            tpl = self._templates[kind] = make(kind).fields
        if not fields.keys() <= tpl.keys():
            make(kind, **fields)  # raises IsaError naming the unknown field
            raise IsaError(f"{kind}: unknown field in {sorted(fields)}")
        full = dict(tpl)
        for k, v in fields.items():
            full[k] = int(v)
        ins = Instruction._trusted(kind, full, 0, 0)
        ins.layer = self.layer
        return ins

    def emit(self, kind: str, **fields) -> int:
        """Append one instruction (fields are logical values) and derive its hazards."""
        ins = self._make(kind, fields)
        idx = len(self.instrs)
        self.instrs.append(ins)
        if kind in INIT_KINDS:
            self.state.update(ins)
            self.preds.append(())
            self.accesses.append([])
            return idx
        acc = accesses(ins, self.state, self.banks)
        self.accesses.append(acc)
        self.preds.append(tuple(sorted(conflicts(self.shadow, idx, int(ENGINE_OF_KIND[kind]), acc))))
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
        pos: list[int] = []
        count = [0, 0, 0, 0]
        engines: list[int] = []
        for ins in self.instrs:
            e = int(ENGINE_OF_KIND[ins.kind])
            engines.append(e)
            pos.append(count[e])
            count[e] += 1
        done: list[list[int] | None] = [None] * len(self.instrs)   # vector clock at completion
        last = [-1, -1, -1, -1]
        for j, ins in enumerate(self.instrs):
            b = engines[j]
            clock = list(done[last[b]]) if last[b] >= 0 else [0, 0, 0, 0]
            for p in sorted(self.preds[j], reverse=True):
                a = engines[p]
                if a == b or clock[a] > pos[p]:
                    continue
                self.instrs[p].dpdby |= 1 << b
                ins.dpdon |= 1 << a
                pc = done[p]
                clock = [x if x > y else y for x, y in zip(clock, pc)]
            clock[b] = pos[j] + 1
            done[j] = clock
            last[b] = j
        return self.instrs + [make("END")]
