"""The two layout variants are data over one codec: same kinds, fields and codings; ISA1X widens bank
addresses to 14 bits, bank ids to 7 and ddr_addr to 32, and nothing else."""

import pytest

from xir.isa import KINDS, Coding, IsaError, is_published, isa_for_banks, layout, word_count

PUBLISHED_ISA1 = {"LOAD", "SAVE", "CONVINIT", "CONV", "POOLINIT", "END"}


def slots(kind, isa):
    return {s.name: s for word in layout(kind, isa) for s in word
            if s.coding not in (Coding.RESERVED, Coding.HEADER)}


@pytest.mark.parametrize("kind", KINDS)
def test_same_fields_and_codings(kind):
    a, b = slots(kind, "ISA1"), slots(kind, "ISA1X")
    assert a.keys() == b.keys()
    for name in a:
        assert (a[name].coding, a[name].choices) == (b[name].coding, b[name].choices)


@pytest.mark.parametrize("kind", KINDS)
def test_isa1x_widths(kind):
    a, b = slots(kind, "ISA1"), slots(kind, "ISA1X")
    for name in a:
        if name.startswith("bank_addr"):
            assert (a[name].width, b[name].width) == (12, 14), name
        elif name.startswith("bank_id"):
            assert (a[name].width, b[name].width) == (6, 7), name
        elif name == "ddr_addr":
            assert (a[name].width, b[name].width) == (29, 32)
        else:
            assert a[name].width == b[name].width, name


@pytest.mark.parametrize("kind", KINDS)
def test_word_sizes_and_header(kind):
    for isa in ("ISA1", "ISA1X"):
        words = layout(kind, isa)
        assert len(words) == word_count(kind, isa)
        for w, word in enumerate(words):
            assert sum(s.width for s in word) == 32
            bits = sorted((s.lsb, s.lsb + s.width) for s in word)
            assert bits[0][0] == 0 and all(x[1] == y[0] for x, y in zip(bits, bits[1:]))
        header = {s.name: (s.lsb, s.width) for s in words[0] if s.coding is Coding.HEADER}
        assert header == {"dpdby": (20, 4), "dpdon": (24, 4), "opcode": (28, 4)}


def test_published_flags_and_isa1x_word_counts():
    assert {k for k in KINDS if is_published(k, "ISA1")} == PUBLISHED_ISA1
    assert not any(is_published(k, "ISA1X") for k in KINDS)
    assert {k: word_count(k, "ISA1X") for k in KINDS} == {
        "LOAD": 6, "SAVE": 5, "CONVINIT": 4, "CONV": 6, "POOLINIT": 2, "POOL": 6, "ALUINIT": 6, "ALU": 6,
        "DWINIT": 3, "DPTWISE": 6, "ELEWINIT": 3, "ELEW": 3, "END": 1}


def test_isa_choice_and_unknown_names():
    assert isa_for_banks(2048, 34) == "ISA1"
    assert isa_for_banks(8192, 40) == "ISA1X"
    assert isa_for_banks(2048, 100) == "ISA1X"
    with pytest.raises(IsaError, match="16384"):
        isa_for_banks(32768, 10)
    with pytest.raises(IsaError, match="ISA1, ISA1X"):
        layout("CONV", "ISA2")
    with pytest.raises(IsaError, match="unknown instruction kind 'MOVE'"):
        word_count("MOVE", "ISA1")
