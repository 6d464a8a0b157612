"""Markdown tables of the instruction layouts, rendered from the layout data itself so that
docs/isa.md cannot drift from the codec (a test checks the document contains every table)."""

from __future__ import annotations

from .fields import Coding
from .layouts import KINDS, is_published, kind_def, layout, word_count

_HEADER_MEANING = {"dpdby": "engines signalled on completion (one bit per engine)",
                   "dpdon": "engines waited on before start (one bit per engine)",
                   "opcode": "instruction kind"}


def layout_table(kind: str, isa: str) -> str:
    """The markdown table of ``kind`` in ``isa``: word, bits, field, coding, logical range, meaning."""
    kd = kind_def(kind)
    rows = ["| word | bits | field | coding | values | meaning |", "|---|---|---|---|---|---|"]
    for word in layout(kind, isa):
        for s in sorted(word, key=lambda s: s.lsb, reverse=True):
            bits = f"{s.lsb + s.width - 1}:{s.lsb}" if s.width > 1 else f"{s.lsb}"
            if s.coding is Coding.RESERVED:
                rows.append(f"| {s.word} | {bits} | rsv | reserved | 0 | must be zero |")
            elif s.coding is Coding.HEADER:
                value = f"0x{kd.opcode:X}" if s.name == "opcode" else "0..15"
                rows.append(f"| 0 | {bits} | {s.name} | header | {value} | {_HEADER_MEANING[s.name]} |")
            else:
                fd = kd.field_def(s.name)
                values = s.allowed_text()
                if fd.codes is not None:
                    values = ", ".join(f"{fd.codes(c).name} {c}" for c in s.choices)
                rows.append(f"| {s.word} | {bits} | {s.name} | {s.coding.value} | {values} | {fd.meaning} |")
    return "\n".join(rows)


def kind_heading(kind: str, isa: str) -> str:
    """The heading line used for a layout table: kind, opcode, words, published or project-defined."""
    kd = kind_def(kind)
    origin = "published" if is_published(kind, isa) else "project-defined"
    n = word_count(kind, isa)
    return f"#### {kind} ({isa}) - opcode 0x{kd.opcode:X}, {n} word{'s' if n > 1 else ''}, {origin}"


def differs(kind: str) -> bool:
    """True when ``kind`` is laid out differently in ISA1X than in ISA1."""
    return layout(kind, "ISA1") != layout(kind, "ISA1X")


def section(isa: str) -> str:
    """Headings and tables of one variant: every kind for ISA1, the kinds that differ for ISA1X."""
    kinds = [k for k in KINDS if isa == "ISA1" or differs(k)]
    return "\n\n".join(kind_heading(k, isa) + "\n\n" + layout_table(k, isa) for k in kinds)


def refresh(text: str) -> str:
    """``text`` with the generated part between each pair of markers
    ``<!-- begin layout tables: ISA -->`` / ``<!-- end layout tables: ISA -->`` re-rendered."""
    for isa in ("ISA1", "ISA1X"):
        begin, end = f"<!-- begin layout tables: {isa} -->", f"<!-- end layout tables: {isa} -->"
        if begin not in text or end not in text:
            raise ValueError(f"the document has no {begin} ... {end} markers")
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n\n{section(isa)}\n\n{end}{tail}"
    return text


if __name__ == "__main__":  # python -m xir.isa.doc_tables docs/isa.md  (rewrites the tables in place)
    import sys
    from pathlib import Path

    path = Path(sys.argv[1])
    path.write_text(refresh(path.read_text()))
