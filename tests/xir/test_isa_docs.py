"""docs/isa.md states the current layouts: its generated tables equal a fresh rendering, and it names
every kind, code and variant difference."""

from pathlib import Path

import pytest

from xir.isa import KINDS, ActType, AluType, ElewType, PadMode, PoolType, is_published
from xir.isa.doc_tables import kind_heading, layout_table, refresh

DOC = Path(__file__).resolve().parents[2] / "docs" / "isa.md"


def test_generated_tables_are_current():
    text = DOC.read_text()
    assert refresh(text) == text, "run: python -m xir.isa.doc_tables docs/isa.md"


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_its_isa1_table_and_origin(kind):
    text = DOC.read_text()
    heading = kind_heading(kind, "ISA1")
    assert heading in text and layout_table(kind, "ISA1") in text
    assert ("published" if is_published(kind) else "project-defined") in heading
    assert f"| {kind} | 0x" in text  # the kinds table of section 1


def test_codes_are_documented():
    text = DOC.read_text()
    for codes in (ActType, PoolType, ElewType, AluType, PadMode):
        for c in codes:
            assert f"{c.name} {c.value}" in text, c


def test_refresh_needs_markers():
    with pytest.raises(ValueError, match="markers"):
        refresh("no tables here")
