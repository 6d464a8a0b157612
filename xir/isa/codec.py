"""Encode instructions to little-endian 32-bit words and decode them back, for either layout variant.

One generic codec reads the variant's slot tables. Encoding refuses any value its slot cannot hold
(:class:`FieldRangeError`); decoding refuses unknown opcodes, truncated streams, stray bytes, nonzero
reserved bits, codes outside an enum and dependency bits an instruction may not set
(:class:`DecodeError`, naming the byte offset of the instruction). Decoding unpacks the fields of all
instructions of one kind at once with numpy, so 10**5 instructions decode in well under a second;
encoding a stream packs them the same way (falling back to one instruction at a time, and so to the
same error, when a value is not a plain in-range int).
"""

from __future__ import annotations

import struct
from numbers import Integral
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Iterable

import numpy as np

from .engines import allowed_mask_bits, format_mask
from .errors import DecodeError, FieldRangeError, IsaError
from .fields import Coding, Slot
from .instruction import Instruction
from .layouts import KIND_DEFS, KIND_OF_OPCODE, check_isa, kind_def


@dataclass(frozen=True)
class _Compiled:
    """Everything the codec needs about one kind in one variant, precomputed."""

    kind: str
    opcode: int
    nwords: int
    dep_allowed: int
    slots: tuple[Slot, ...]  # payload fields, canonical order
    names: tuple[str, ...]
    rsv_masks: tuple[int, ...]  # per word: bits that must be zero
    struct_fmt: str
    plan: tuple[tuple, ...]  # per payload slot: (name, word, lsb, lo, hi, choices, offset, mask)


@lru_cache(maxsize=None)
def _compiled(kind: str, isa: str) -> _Compiled:
    kd = kind_def(kind)
    words = kd.slots[check_isa(isa)]
    by_name = {s.name: s for word in words for s in word if s.coding not in (Coding.RESERVED, Coding.HEADER)}
    slots = tuple(by_name[name] for name in kd.field_names)  # canonical (ISA1) order in both variants
    rsv = tuple(sum(s.mask << s.lsb for s in word if s.coding is Coding.RESERVED) for word in words)
    plan = tuple((s.name, s.word, s.lsb, s.lo, s.hi, None if s.choices is None else frozenset(s.choices),
                  1 if s.coding is Coding.MINUS_ONE else 0, s.mask) for s in slots)
    return _Compiled(kind, kd.opcode, len(words), allowed_mask_bits(kind), slots,
                     tuple(s.name for s in slots), rsv, f"<{len(words)}I", plan)


def _allowed_deps(c: _Compiled) -> str:
    if c.dep_allowed == 0:
        return "{0} (END carries no dependency bits)"
    return f"(4-bit masks of {format_mask(c.dep_allowed)}; an instruction never names its own engine)"


def encode_one(instr: Instruction, isa: str = "ISA1") -> bytes:
    """The bytes of one instruction in variant ``isa``; FieldRangeError if a value does not fit."""
    c = _compiled(instr.kind, isa)
    fields = instr.fields
    if len(fields) != len(c.names):
        extra = [n for n in fields if n not in c.names]
        if extra:
            raise IsaError(f"{c.kind} has no field {extra[0]!r}; its fields are {', '.join(c.names) or '(none)'}")
    for name, value in (("dpdon", instr.dpdon), ("dpdby", instr.dpdby)):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 0 or value & ~c.dep_allowed:
            raise FieldRangeError(c.kind, name, value, _allowed_deps(c), "drop the bits it may not set")
    words = [0] * c.nwords
    words[0] = c.opcode << 28 | int(instr.dpdon) << 24 | int(instr.dpdby) << 20
    for name, word, lsb, lo, hi, choices, offset, mask in c.plan:
        value = fields.get(name, offset)
        if type(value) is not int or not lo <= value <= hi or (choices is not None and value not in choices):
            value = _checked(c, name, value, isa)
        words[word] |= ((value - offset) & mask) << lsb
    return struct.pack(c.struct_fmt, *words)


def _checked(c: _Compiled, name: str, value: object, isa: str) -> int:
    """Slow path of the range check: accept an in-range integer of another type (numpy), else raise
    FieldRangeError naming the kind, field, value and allowed range."""
    slot = next(s for s in c.slots if s.name == name)
    if isinstance(value, Integral) and not isinstance(value, bool) and slot.accepts(int(value)):
        return int(value)
    hint = ("use a smaller block and split the work into more instructions" if slot.coding is Coding.MINUS_ONE
            else "choose a value inside them")
    raise FieldRangeError(c.kind, name, value,
                          f"{slot.allowed_text()} ({slot.width}-bit {slot.coding.value} field in {isa})", hint)


def encode(instrs: Iterable[Instruction], isa: str = "ISA1") -> bytes:
    """The byte stream of ``instrs`` in variant ``isa`` (concatenated :func:`encode_one`).

    The instructions of each kind are packed at once with numpy; a stream that is not plainly valid
    (a non-Instruction item, a value that is not a Python int or is out of range, a missing or
    extra field, a bad dependency mask) is encoded one instruction at a time instead, so the error
    raised is the one :func:`encode_one` gives for the first offending instruction."""
    check_isa(isa)
    instrs = instrs if isinstance(instrs, list) else list(instrs)
    blob = _encode_fast(instrs, isa)
    if blob is not None:
        return blob
    out = []
    for i, instr in enumerate(instrs):
        if not isinstance(instr, Instruction):
            raise IsaError(f"item {i} of the instruction list is a {type(instr).__name__}, not an Instruction")
        out.append(encode_one(instr, isa))
    return b"".join(out)


_INT = {int}
_KIND, _DPDON, _DPDBY, _FIELDS = (attrgetter(a) for a in ("kind", "dpdon", "dpdby", "fields"))


def _encode_fast(instrs: list, isa: str) -> bytes | None:
    """Vectorized :func:`encode`; None when some instruction needs the checked one-by-one path."""
    if set(map(type, instrs)) - {Instruction}:
        return None
    groups: dict[str, list[int]] = {}
    for i, kind in enumerate(map(_KIND, instrs)):
        groups.setdefault(kind, []).append(i)
    nwords = np.zeros(len(instrs), dtype=np.int64)
    packed = []
    for kind, idx in groups.items():
        try:
            c = _compiled(kind, isa)
        except IsaError:
            return None
        group = [instrs[i] for i in idx]
        n, k = len(group), len(c.names)
        deps = list(map(_DPDON, group)) + list(map(_DPDBY, group))
        if set(map(type, deps)) != _INT or min(deps) < 0 or max(deps) > 15:
            return None
        dep = np.array(deps, dtype=np.int64).reshape(2, n)
        if (dep & ~c.dep_allowed).any():
            return None
        words = np.zeros((n, c.nwords), dtype=np.int64)
        words[:, 0] = c.opcode << 28 | dep[0] << 24 | dep[1] << 20
        if k:
            dicts = list(map(_FIELDS, group))
            if set(map(len, dicts)) != {k}:
                return None
            get = itemgetter(*c.names)
            try:
                rows = list(map(get, dicts)) if k > 1 else [(v,) for v in map(get, dicts)]
            except KeyError:
                return None
            flat = list(chain.from_iterable(rows))
            if set(map(type, flat)) != _INT:
                return None
            try:
                vals = np.fromiter(flat, np.int64, n * k).reshape(n, k)
            except OverflowError:
                return None
            for j, (name, word, lsb, lo, hi, choices, offset, mask) in enumerate(c.plan):
                col = vals[:, j]
                if (col < lo).any() or (col > hi).any():
                    return None
                if choices is not None and not np.isin(col, list(choices)).all():
                    return None
                words[:, word] |= ((col - offset) & mask) << lsb
        nwords[idx] = c.nwords
        packed.append((np.asarray(idx), words))
    starts = np.cumsum(nwords) - nwords
    out = np.zeros(int(nwords.sum()), dtype="<u4")
    for idx, words in packed:
        out[starts[idx][:, None] + np.arange(words.shape[1])] = words
    return out.tobytes()


def offsets(instrs: Iterable[Instruction], isa: str = "ISA1") -> list[int]:
    """The byte offset of every instruction of ``instrs`` in its encoded stream."""
    out, pos = [], 0
    for instr in instrs:
        out.append(pos)
        pos += 4 * _compiled(instr.kind, isa).nwords
    return out


def _scan(ops: list[int], nbytes: int, isa: str) -> tuple[list[int], list[int], tuple[int, str] | None]:
    """Walk instruction headers: word index and opcode of every instruction, plus the first
    structural problem (unknown opcode, truncation, stray bytes) as (byte offset, message)."""
    lengths = [0] * 16
    for op, kind in KIND_OF_OPCODE.items():
        lengths[op] = _compiled(kind, isa).nwords
    nwords = len(ops)
    starts, codes = [], []
    pos = 0
    while pos < nwords:
        op = ops[pos]
        n = lengths[op]
        if n == 0:
            return starts, codes, (4 * pos, f"unknown opcode 0x{op:X}; the stream is corrupt or was "
                                            f"not written for the {isa} instruction set")
        if pos + n > nwords:
            have = nbytes - 4 * pos
            return starts, codes, (4 * pos, f"{KIND_OF_OPCODE[op]} needs {4 * n} bytes but only {have} "
                                            f"remain; the stream is truncated")
        starts.append(pos)
        codes.append(op)
        pos += n
    if nbytes % 4:
        return starts, codes, (4 * pos, f"{nbytes % 4} stray byte(s) after the last whole word; an "
                                        f"instruction stream is a whole number of 32-bit words")
    return starts, codes, None


def decode(data: bytes, isa: str = "ISA1") -> list[Instruction]:
    """The instructions of a byte stream in variant ``isa``; DecodeError names the byte offset of the
    first offending instruction."""
    check_isa(isa)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise IsaError(f"decode expects bytes, got {type(data).__name__}")
    data = bytes(data)
    nbytes = len(data)
    arr = np.frombuffer(data, dtype="<u4", count=nbytes // 4).astype(np.int64)
    starts_l, codes_l, problem = _scan((arr >> 28).tolist(), nbytes, isa)
    problems = [problem] if problem else []
    out: list[Instruction | None] = [None] * len(starts_l)
    starts = np.asarray(starts_l, dtype=np.int64)
    codes = np.asarray(codes_l, dtype=np.int64)
    for op in np.unique(codes).tolist():
        c = _compiled(KIND_OF_OPCODE[op], isa)
        idx = np.nonzero(codes == op)[0]
        words = arr[starts[idx][:, None] + np.arange(c.nwords)]
        problems.extend(_check(c, words, 4 * starts[idx]))
        _unpack(c, words, idx, out)
    if problems:
        offset, message = min(problems)
        raise DecodeError(offset, message)
    return out  # type: ignore[return-value]


def _first(bad: np.ndarray, offs: np.ndarray) -> int:
    return int(offs[np.argmax(bad)])


def _check(c: _Compiled, words: np.ndarray, offs: np.ndarray) -> list[tuple[int, str]]:
    """Vectorized validity checks of all instructions of one kind; one problem per failing check."""
    found = []
    w0 = words[:, 0]
    for name, shift in (("dpdon", 24), ("dpdby", 20)):
        bad = ((w0 >> shift) & 0xF & ~c.dep_allowed) != 0
        if bad.any():
            v = int((w0[np.argmax(bad)] >> shift) & 0xF)
            found.append((_first(bad, offs), f"{c.kind} {name}=0x{v:X} is not allowed; it must be one of "
                                             f"{_allowed_deps(c)}"))
    for w, mask in enumerate(c.rsv_masks):
        if mask:
            bad = (words[:, w] & mask) != 0
            if bad.any():
                bits = int(words[np.argmax(bad), w] & mask)
                found.append((_first(bad, offs), f"{c.kind} word {w} has nonzero reserved bits "
                                                 f"0x{bits:08X}; reserved bits must be zero"))
    for s in c.slots:
        if s.choices is not None:
            raw = (words[:, s.word] >> s.lsb) & s.mask
            bad = ~np.isin(raw, s.choices)
            if bad.any():
                found.append((_first(bad, offs), f"{c.kind} field {s.name!r} holds {int(raw[np.argmax(bad)])}, "
                                                 f"which is not one of its codes {s.allowed_text()}"))
    return found


def _unpack(c: _Compiled, words: np.ndarray, idx: np.ndarray, out: list) -> None:
    """Extract the logical field values of all instructions of one kind into ``out`` at ``idx``."""
    cols = []
    for s in c.slots:
        raw = (words[:, s.word] >> s.lsb) & s.mask
        if s.coding is Coding.MINUS_ONE:
            raw = raw + 1
        elif s.coding is Coding.SIGNED:
            raw = np.where(raw >> (s.width - 1) != 0, raw - (1 << s.width), raw)
        cols.append(raw.tolist())
    dpdon = ((words[:, 0] >> 24) & 0xF).tolist()
    dpdby = ((words[:, 0] >> 20) & 0xF).tolist()
    names, kind, make = c.names, c.kind, Instruction._trusted
    rows = zip(*cols) if cols else ((),) * len(idx)
    for j, row, on, by in zip(idx.tolist(), rows, dpdon, dpdby):
        out[j] = make(kind, dict(zip(names, row)), on, by)


def decode_one(data: bytes, isa: str = "ISA1") -> Instruction:
    """Decode a buffer that holds exactly one instruction."""
    instrs = decode(data, isa)
    if len(instrs) != 1:
        if not instrs:
            raise DecodeError(0, "the buffer is empty; decode_one expects exactly one instruction")
        second = 4 * _compiled(instrs[0].kind, isa).nwords
        raise DecodeError(second, "a second instruction starts here; decode_one expects exactly one "
                                  "(use decode for a stream)")
    return instrs[0]


__all__ = ["encode", "encode_one", "decode", "decode_one", "offsets"]
