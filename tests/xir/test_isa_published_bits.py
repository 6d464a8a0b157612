"""ISA1 layouts of the published kinds match the published DPUCZDX8G trace parser (docs/isa.md) bit
for bit: the expected positions are transcribed from the published text here (independently of the
code's tables) and checked both against the layout and against encoded words."""

import struct

import pytest

from xir.isa import Coding, encode_one, layout, make, word_count

# Transcribed from the DPUCZDX8G trace parser of the Vitis AI repository (the source docs/isa.md names;
# fields from the least significant bit; word 0 is the 20 payload bits).
PUBLISHED = {
    "LOAD": "bank_addr:12, rsv:2, bank_id:6 | jump_write:10, jump_read:16 | length:10, channel:14, rsv:3, "
            "pad_idx:5 | reg_id:3, rsv:5, const_value:8, broadcast:4, mode_avg:2, pad_end:5, pad_start:5 | "
            "ddr_addr:29",
    "SAVE": "bank_addr:12, rsv:2, bank_id:6 | jump_read:10, jump_write:16, rsv:3, hp_id:2 | length:10, "
            "channel:12 | reg_id:3, rsv:5, const_value:8, const_en:1 | ddr_addr:29",
    "CONVINIT": "jump_read:10, shift_cut:6, act_type:4 | jump_read_endl:10, shift_bias:6, rsv:12, stride_out:4 | "
                "jump_write:10, stride_offset_in:3, valid_pixel_parallel:3, rsv:8, kernel_h:4, stride_h:4 | "
                "jump_write_endl:10, stride_offset_out:3, rsv:11, kernel_w:4, stride_w:4",
    "CONV": "bank_addr_in:12, pad_top:4, pad_left:4 | bank_addr_out:12, pad_bottom:4, pad_right:4, rsv:4, "
            "channel_group:8 | bank_addr_weights:12, bank_id_in:6, rsv:4, length:10 | bank_addr_bias:12, "
            "bank_id_out:6, bank_addr_in_1:12 | bank_addr_in_2:12, bank_addr_in_3:12, channel_offset:5",
    "POOLINIT": "jump_read:10, kernel_h:3, kernel_w:3, shift_cut:4 | pool_type:2, stride_h:3, stride_w:3, "
                "stride_offset_in:3, valid_pixel_parallel:3, stride_offset_out:3, stride_out:4, jump_write:10",
}
WORDS = {"LOAD": 5, "SAVE": 5, "CONVINIT": 4, "CONV": 5, "POOLINIT": 2, "POOL": 5, "ALUINIT": 6, "ALU": 5,
         "DWINIT": 3, "DPTWISE": 5, "ELEWINIT": 3, "ELEW": 3, "END": 1}
OPCODES = {"LOAD": 0x0, "SAVE": 0x4, "CONVINIT": 0x9, "CONV": 0x8, "POOLINIT": 0x6, "POOL": 0xC,
           "ALUINIT": 0x1, "ALU": 0x2, "DWINIT": 0xB, "DPTWISE": 0xA, "ELEWINIT": 0xD, "ELEW": 0xE, "END": 0x7}


def published_positions(kind):
    """{field: (word, lsb, width)} and the set of (word, bit) covered by published non-rsv fields."""
    pos, covered = {}, set()
    for w, word in enumerate(PUBLISHED[kind].split("|")):
        lsb = 0
        for item in word.split(","):
            name, width = item.strip().split(":")
            width = int(width)
            if name != "rsv":
                pos[name] = (w, lsb, width)
                covered |= {(w, b) for b in range(lsb, lsb + width)}
            lsb += width
    return pos, covered


def words_of(instr, isa="ISA1"):
    data = encode_one(instr, isa)
    return list(struct.unpack(f"<{len(data) // 4}I", data))


def raw_value(slot, raw):
    """The logical value whose stored bits are ``raw``."""
    if slot.coding is Coding.MINUS_ONE:
        return raw + 1
    if slot.coding is Coding.SIGNED and raw >> (slot.width - 1):
        return raw - (1 << slot.width)
    return raw


@pytest.mark.parametrize("kind", sorted(WORDS))
def test_word_counts_and_opcodes(kind):
    assert word_count(kind, "ISA1") == WORDS[kind]
    w = words_of(make(kind))
    assert w[0] == OPCODES[kind] << 28 and all(x == 0 for x in w[1:])


@pytest.mark.parametrize("kind", sorted(PUBLISHED))
def test_published_fields_sit_where_published(kind):
    pos, covered = published_positions(kind)
    slots = {s.name: s for word in layout(kind, "ISA1") for s in word
             if s.coding not in (Coding.RESERVED, Coding.HEADER)}
    assert set(slots) == set(pos)
    for name, (w, lsb, width) in pos.items():
        assert (slots[name].word, slots[name].lsb, slots[name].width) == (w, lsb, width), name
    # every payload bit that no published field covers is reserved
    for word in layout(kind, "ISA1"):
        for s in word:
            if s.coding is Coding.RESERVED:
                assert not {(s.word, b) for b in range(s.lsb, s.lsb + s.width)} & covered


@pytest.mark.parametrize("kind", sorted(PUBLISHED))
def test_each_published_field_sets_exactly_its_bits(kind):
    pos, _ = published_positions(kind)
    slots = {s.name: s for word in layout(kind, "ISA1") for s in word}
    for name, (w, lsb, width) in pos.items():
        slot = slots[name]
        candidates = [1, (1 << width) - 1]
        for raw in candidates:
            if slot.choices is not None and raw not in slot.choices:
                continue
            got = words_of(make(kind, **{name: raw_value(slot, raw)}))
            expect = [OPCODES[kind] << 28 if i == 0 else 0 for i in range(WORDS[kind])]
            expect[w] |= raw << lsb
            assert got == expect, (name, raw)


def test_hand_computed_words():
    assert words_of(make("LOAD", bank_id=1))[0] == 1 << 14
    assert words_of(make("LOAD", ddr_addr=0x1234567))[4] == 0x1234567
    assert words_of(make("LOAD", length=8, channel=64))[2] == 7 | 63 << 10
    assert words_of(make("LOAD", const_value=-1))[3] == 0xFF << 8
    assert words_of(make("SAVE", hp_id=3))[1] == 3 << 29
    assert words_of(make("CONVINIT", kernel_h=3, stride_h=2))[2] == 2 << 24 | 1 << 28
    assert words_of(make("CONVINIT", shift_bias=-2))[1] == 0b111110 << 10
    assert words_of(make("CONVINIT", act_type=1))[0] == 0x9 << 28 | 1 << 16
    assert words_of(make("CONV", length=8, bank_id_in=9))[2] == 7 << 22 | 9 << 12
    assert words_of(make("POOLINIT", jump_write=5, pool_type=1))[1] == 5 << 21 | 1
    assert words_of(make("END", dpdby=0)) == [0x7 << 28]
