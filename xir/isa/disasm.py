"""Text listings of instruction streams (:func:`disassemble`) and their inverse (:func:`assemble`).

One line per instruction::

    <index> 0x<byte offset>  <KIND> dpdon=<engines> dpdby=<engines> name=value ...  ; <annotation>

Engines are written as names joined by ``|`` (``-`` for none); values in decimal. :func:`assemble`
reads such lines back; the index and offset columns are optional but, when present, must match the
position of the line's instruction. Blank lines and lines starting with ``#`` are skipped; the text
after ``;`` becomes the instruction's ``comment``.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from .codec import decode, encode_one, offsets
from .engines import format_mask, parse_mask
from .errors import AssemblyError, IsaError
from .instruction import Instruction
from .layouts import check_isa, word_count


def _note(i: int, instr: Instruction, annotations: Mapping[int, str] | None) -> str:
    if annotations is not None and i in annotations:
        return str(annotations[i])
    parts = [p for p in (instr.layer, instr.comment) if p]
    return " | ".join(parts)


def disassemble(instrs_or_bytes: Iterable[Instruction] | bytes, isa: str = "ISA1",
                annotations: Mapping[int, str] | None = None) -> str:
    """A listing of the stream, one line per instruction; ``annotations`` maps an instruction index
    to a trailing comment (for example its layer name), else the instruction's layer/comment is shown."""
    check_isa(isa)
    if isinstance(instrs_or_bytes, (bytes, bytearray, memoryview)):
        instrs = decode(bytes(instrs_or_bytes), isa)
    else:
        instrs = list(instrs_or_bytes)
    lines = []
    for i, (instr, off) in enumerate(zip(instrs, offsets(instrs, isa))):
        head = f"{i:6d} 0x{off:06x}  {instr.kind:<8} dpdon={format_mask(instr.dpdon)} dpdby={format_mask(instr.dpdby)}"
        body = " ".join(f"{k}={v}" for k, v in instr.fields.items())
        line = f"{head} {body}" if body else head
        note = _note(i, instr, annotations)
        if note:
            line += f"  ; {note}"
        lines.append(line)
    return "\n".join(lines) + ("\n" if lines else "")


def _parse_int(token: str, what: str, lineno: int) -> int:
    try:
        return int(token, 0)
    except ValueError:
        raise AssemblyError(lineno, f"{what} {token!r} is not an integer") from None


def assemble(text: str, isa: str = "ISA1") -> list[Instruction]:
    """Parse a listing written by :func:`disassemble` (or by hand) into instructions; every
    instruction is checked against variant ``isa`` so out-of-range values fail here, with the line."""
    check_isa(isa)
    out: list[Instruction] = []
    pos = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        code, _, comment = raw.partition(";")
        tokens = code.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        if tokens[0].isdigit():
            index = int(tokens.pop(0))
            if index != len(out):
                raise AssemblyError(lineno, f"index {index} does not match the instruction's position {len(out)}")
        if tokens and tokens[0].lower().startswith("0x"):
            off = _parse_int(tokens.pop(0), "byte offset", lineno)
            if off != 4 * pos:
                raise AssemblyError(lineno, f"byte offset 0x{off:x} does not match the computed 0x{4 * pos:x} "
                                            f"for {isa}; was the listing written for another variant?")
        if not tokens:
            raise AssemblyError(lineno, "no instruction kind after the index and offset columns")
        kind, fields, deps = tokens[0].upper(), {}, {"dpdon": 0, "dpdby": 0}
        for tok in tokens[1:]:
            name, eq, value = tok.partition("=")
            if not eq:
                raise AssemblyError(lineno, f"token {tok!r} is not of the form name=value")
            if name in deps:
                try:
                    deps[name] = parse_mask(value)
                except IsaError as exc:
                    raise AssemblyError(lineno, str(exc)) from None
            elif name in fields:
                raise AssemblyError(lineno, f"field {name!r} is given twice")
            else:
                fields[name] = _parse_int(value, f"value of {name}", lineno)
        try:
            instr = Instruction(kind, fields, deps["dpdon"], deps["dpdby"], comment.strip() or None)
            encode_one(instr, isa)
        except IsaError as exc:
            raise AssemblyError(lineno, str(exc)) from None
        out.append(instr)
        pos += word_count(kind, isa)
    return out
