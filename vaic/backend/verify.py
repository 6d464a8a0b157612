"""Static verification of a generated DPU program (run by ``generate`` before it returns).

Checks, each failure a ``CompilerBug`` naming the instruction index:
- every field fits its slot (``xir.isa.encode``, FieldRangeError);
- the tokens are balanced and cannot deadlock (``xir.isa.run_tokens(..., strict=True)``);
- every access stays inside the target's banks (bank ids, lines < depth) and the DDR registers;
- every bank line read was written before by an instruction of the same layer (so no two live
  tensors share bank lines), and every DDR byte read holds an interface input or was written by a
  SAVE; reads of CONST are in bounds;
- every cross-engine hazard (read-after-write, write-after-read, write-after-write) on bank lines
  and DDR bytes, taken in stream order (``access.conflicts``), is ordered by the tokens actually
  present in the stream (vector clocks over the FIFO-matched tokens).
"""
from __future__ import annotations

import numpy as np

from xir.isa import ENGINE_OF_KIND, IsaError, encode, encode_one, run_tokens
from xir.target import Target

from ..errors import CompilerBug
from .access import INIT_KINDS, AccessError, InitState, accesses, conflicts
from .banks import Banks
from .program import CONST_REG, DpuProgram
from .shadow import BANK_PAD, DDR_PAD, Shadow


def _bug(i: int, ins, msg: str) -> CompilerBug:
    where = f" (layer {ins.layer})" if ins is not None and ins.layer else ""
    kind = ins.kind if ins is not None else "END"
    return CompilerBug(f"instruction {i} {kind}{where}: {msg}")


def _clocks(instrs) -> tuple[list[int], list[int], list[list[int]]]:
    """Engine, position in its engine and start-time vector clock of every instruction."""
    engines, pos = [], []
    count = [0, 0, 0, 0]
    for ins in instrs:
        e = ENGINE_OF_KIND[ins.kind]
        e = -1 if e is None else int(e)
        engines.append(e)
        pos.append(count[e] if e >= 0 else -1)
        if e >= 0:
            count[e] += 1
    signals: dict[tuple[int, int], list[int]] = {}
    for i, ins in enumerate(instrs):
        if engines[i] >= 0:
            for b in range(4):
                if ins.dpdby >> b & 1:
                    signals.setdefault((engines[i], b), []).append(i)
    used: dict[tuple[int, int], int] = {}
    done: list[list[int] | None] = [None] * len(instrs)
    start: list[list[int]] = [[0, 0, 0, 0]] * len(instrs)
    last = [-1, -1, -1, -1]
    for j, ins in enumerate(instrs):
        b = engines[j]
        if b < 0:
            continue
        clock = list(done[last[b]]) if last[b] >= 0 else [0, 0, 0, 0]
        for a in range(4):
            if ins.dpdon >> a & 1:
                k = used.get((a, b), 0)
                used[(a, b)] = k + 1
                p = signals[(a, b)][k]
                clock = [x if x > y else y for x, y in zip(clock, done[p])]
        start[j] = clock
        c2 = list(clock)
        c2[b] = pos[j] + 1
        done[j] = c2
        last[b] = j
    return engines, pos, start


def verify(program: DpuProgram, target: Target, *, trace: tuple[list, list] | None = None) -> bytes:
    """Check ``program`` (module rules); CompilerBug on the first violation.

    ``trace`` = (accesses, conflicts) per instruction, as the emitter derived them while it built
    the stream with the same functions (``access.accesses`` / ``access.conflicts``); ``generate``
    passes it so the hazards are not derived twice. Without it everything is derived from the
    instructions' fields. Returns the encoded stream."""
    instrs = program.instructions
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
    try:
        run_tokens(instrs, strict=True)
    except IsaError as e:
        i = getattr(e, "index", len(instrs) - 1)
        raise _bug(i, instrs[i] if i < len(instrs) else None, str(e)) from None
    engines, pos, start = _clocks(instrs)
    banks = Banks(target)
    sizes = dict(program.reg_sizes)
    if trace is None:
        shadow = Shadow(banks, {r: s for r, s in sizes.items() if r != CONST_REG})
        state = InitState()
    else:
        shadow = state = None
    nb = max(banks.info) + 1
    depth = max(d for _, d in banks.info.values())
    tags = np.full((1, nb, depth + BANK_PAD), -1, dtype=np.int32)
    valid = {r: np.zeros((2, s + DDR_PAD), dtype=bool) for r, s in sizes.items() if r != CONST_REG}
    for t in program.inputs:
        _ddr(valid[t.reg_id], *_place_bytes(t))[0][...] = True
    layer_ids: dict[object, int] = {}
    bank_depth = {b: d for b, (_, d) in banks.info.items()}
    range_depth: dict[tuple[int, int], int] = {}

    for j, ins in enumerate(instrs):
        if engines[j] < 0:
            continue
        if trace is None:
            if ins.kind in INIT_KINDS:
                state.update(ins)
                continue
            try:
                acc = accesses(ins, state, banks)
            except AccessError as e:
                raise _bug(j, ins, str(e)) from None
        else:
            acc = trace[0][j]
            if not acc:
                continue
        lid = layer_ids.setdefault(ins.layer, len(layer_ids))
        for sp, write, lo, hi, s, count, stride, width in acc:
            if width <= 0:
                continue
            last = s + (count - 1) * stride + width
            if sp == "B":
                d = range_depth.get((lo, hi))
                if d is None:
                    missing = [b for b in range(lo, hi) if b not in bank_depth]
                    if missing or hi <= lo:
                        raise _bug(j, ins, f"bank id {missing[0] if missing else lo} does not exist on {target.name}")
                    d = range_depth[(lo, hi)] = min(bank_depth[b] for b in range(lo, hi))
                if last > d:
                    raise _bug(j, ins, f"lines {s}..{last - 1} of banks {lo}..{hi - 1} exceed their depth {d}")
                v = Shadow._view(tags, lo, hi, s, count, stride, width)
                if write:
                    v[...] = lid
                elif (v != lid).any():
                    bad = int(v[v != lid].flat[0])
                    what = "never written" if bad < 0 else f"written for another layer ({_name(layer_ids, bad)})"
                    raise _bug(j, ins, f"reads lines {s}..{last - 1} of banks {lo}..{hi - 1}: {what}")
            elif lo == CONST_REG:
                if write or last > sizes.get(CONST_REG, 0):
                    raise _bug(j, ins, "writes CONST" if write else
                               f"CONST access {s}..{last - 1} outside its {sizes.get(CONST_REG, 0)} bytes")
            else:
                if lo not in valid or last > sizes.get(lo, 0):
                    raise _bug(j, ins, f"DDR register {lo} access {s}..{last - 1} outside its "
                                       f"{sizes.get(lo, 0)} bytes")
                v = _ddr(valid[lo], s, count, stride, width)[0]
                if write:
                    v[...] = True
                elif not v.all():
                    raise _bug(j, ins, f"reads DDR register {lo} bytes {s}..{last - 1} before they are written")
        deps = conflicts(shadow, j, engines[j], acc) if trace is None else trace[1][j]
        for p in deps:
            if not (engines[p] == engines[j] and p < j or start[j][engines[p]] > pos[p]):
                raise _bug(j, ins, f"conflicting access by instruction {p} ({instrs[p].kind}, layer "
                                   f"{instrs[p].layer}) is not ordered before it by tokens")
    return blob


def _ddr(arr, start, count, stride, width):
    if count == 1:
        return arr[:, start:start + width]
    v = arr[:, start:start + count * stride]
    return v.reshape(v.shape[0], count, stride)[:, :, :width]


def _name(ids: dict, lid: int) -> str:
    for k, v in ids.items():
        if v == lid:
            return str(k)
    return "?"


def _place_bytes(t) -> tuple[int, int, int, int]:
    """(start, count, stride, width) of a TensorPlace's bytes."""
    dims = list(t.dims)
    c = dims[-1]
    pix = t.pixel_stride or c
    n = 1
    for d in dims[1:-1]:
        n *= d
    return t.ddr_addr, max(n, 1), pix, c
