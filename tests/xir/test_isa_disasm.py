"""Listings: disassemble -> assemble gives the same instructions; annotations and errors."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xir.isa import (KINDS, AssemblyError, Coding, Instruction, assemble, disassemble, encode, layout, make)
from xir.isa.engines import ENGINE_OF_KIND

ISAS = ("ISA1", "ISA1X")


@st.composite
def instructions(draw, isa):
    kind = draw(st.sampled_from(KINDS))
    fields = {s.name: draw(st.sampled_from(s.choices) if s.choices else st.integers(s.lo, s.hi))
              for word in layout(kind, isa) for s in word if s.coding not in (Coding.RESERVED, Coding.HEADER)}
    engine = ENGINE_OF_KIND[kind]
    deps = [0] if engine is None else [m for m in range(16) if not m >> engine & 1]
    return Instruction(kind, fields, draw(st.sampled_from(deps)), draw(st.sampled_from(deps)))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_text_round_trip(data):
    isa = data.draw(st.sampled_from(ISAS))
    instrs = data.draw(st.lists(instructions(isa), max_size=20))
    text = disassemble(instrs, isa)
    assert assemble(text, isa) == instrs
    assert disassemble(encode(instrs, isa), isa) == text


def test_listing_format_and_annotations():
    instrs = [make("LOAD", bank_id=3, length=16, dpdby=["CONV"]),
              make("CONV", dpdon=["LOAD"], dpdby=["SAVE", "MISC"], layer="conv1"),
              make("END")]
    text = disassemble(instrs, "ISA1", annotations={0: "input tile 0"})
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[0].split()[:5] == ["0", "0x000000", "LOAD", "dpdon=-", "dpdby=CONV"]
    assert "bank_id=3" in lines[0] and "length=16" in lines[0] and lines[0].endswith("; input tile 0")
    assert lines[1].split()[:5] == ["1", "0x000014", "CONV", "dpdon=LOAD", "dpdby=SAVE|MISC"]
    assert lines[1].endswith("; conv1")
    assert lines[2].split() == ["2", "0x000028", "END", "dpdon=-", "dpdby=-"]
    back = assemble(text)
    assert back == instrs and back[0].comment == "input tile 0" and back[1].comment == "conv1"
    assert disassemble(instrs, "ISA1X").splitlines()[1].split()[1] == "0x000018"  # LOAD is 6 words in ISA1X


def test_hand_written_listing():
    text = """
    # a hand-written stream: no index or offset columns, only the fields that differ from defaults
    LOAD dpdby=CONV bank_id=0x10 length=8 channel=3   ; image row 0
    conv dpdon=LOAD length=8 channel_group=1
    END
    """
    instrs = assemble(text)
    assert [i.kind for i in instrs] == ["LOAD", "CONV", "END"]
    assert instrs[0]["bank_id"] == 16 and instrs[0].dpdby == 4 and instrs[1].dpdon == 1
    assert instrs[0] == make("LOAD", bank_id=16, length=8, channel=3, dpdby=4)


@pytest.mark.parametrize("text, line, fragment", [
    ("LOAD length=0", 1, "'length'"),
    ("END\nLOAD bank_id", 2, "name=value"),
    ("MOVE a=1", 1, "unknown instruction kind"),
    ("LOAD foo=1", 1, "no field 'foo'"),
    ("LOAD length=x", 1, "not an integer"),
    ("LOAD length=2 length=3", 1, "twice"),
    ("LOAD dpdon=GPU", 1, "unknown engine"),
    ("0 0x000000 END\n1 0x000008 END", 2, "byte offset"),
    ("5 END", 1, "index 5"),
    ("LOAD dpdon=LOAD", 1, "dpdon"),
])
def test_assembly_errors_name_the_line(text, line, fragment):
    with pytest.raises(AssemblyError) as err:
        assemble(text)
    assert err.value.line == line and fragment in str(err.value)
