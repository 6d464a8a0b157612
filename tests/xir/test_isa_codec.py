"""Encode/decode round trips in both variants, range errors on encode and precise decode errors."""

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xir.isa import (ENGINE_OF_KIND, KINDS, Coding, DecodeError, FieldRangeError, Instruction, IsaError,
                     decode, decode_one, encode, encode_one, layout, make, word_count)

ISAS = ("ISA1", "ISA1X")


def payload_slots(kind, isa):
    return [s for word in layout(kind, isa) for s in word if s.coding not in (Coding.RESERVED, Coding.HEADER)]


def dep_values(kind):
    engine = ENGINE_OF_KIND[kind]
    return [0] if engine is None else [m for m in range(16) if not m >> engine & 1]


@st.composite
def instructions(draw, isa):
    kind = draw(st.sampled_from(KINDS))
    fields = {}
    for s in payload_slots(kind, isa):
        fields[s.name] = draw(st.sampled_from(s.choices) if s.choices else st.integers(s.lo, s.hi))
    deps = dep_values(kind)
    return Instruction(kind, fields, draw(st.sampled_from(deps)), draw(st.sampled_from(deps)))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_defaults_and_extremes(kind, isa):
    lows = {s.name: (min(s.choices) if s.choices else s.lo) for s in payload_slots(kind, isa)}
    highs = {s.name: (max(s.choices) if s.choices else s.hi) for s in payload_slots(kind, isa)}
    deps = dep_values(kind)
    instrs = [make(kind), Instruction(kind, lows), Instruction(kind, highs, max(deps), max(deps))]
    data = encode(instrs, isa)
    assert len(data) == 3 * 4 * word_count(kind, isa)
    back = decode(data, isa)
    assert back == instrs
    assert encode(back, isa) == data
    assert decode_one(encode_one(instrs[2], isa), isa) == instrs[2]


@pytest.mark.parametrize("isa", ISAS)
def test_defaults_encode_as_zero_payload(isa):
    for kind in KINDS:
        words = struct.unpack(f"<{word_count(kind, isa)}I", encode_one(make(kind), isa))
        assert words[0] & 0xFFFFF == 0 and not any(words[1:])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_round_trip_random_streams(data):
    isa = data.draw(st.sampled_from(ISAS))
    instrs = data.draw(st.lists(instructions(isa), max_size=30))
    blob = encode(instrs, isa)
    back = decode(blob, isa)
    assert back == instrs
    assert encode(back, isa) == blob


def test_signed_and_minus_one_values_survive():
    i = make("CONVINIT", shift_bias=-16, shift_cut=16, kernel_h=16, stride_h=1)
    assert decode(encode([i]))[0]["shift_bias"] == -16
    e = make("ELEW", shift_write=-7, num_inputs=16)
    assert decode(encode([e]))[0].fields["shift_write"] == -7
    assert decode(encode([make("ELEW", shift_write=32)]))[0]["shift_write"] == 32


@pytest.mark.parametrize("kind, field, value, isa", [
    ("LOAD", "length", 0, "ISA1"),
    ("LOAD", "length", 1025, "ISA1"),
    ("LOAD", "bank_id", 64, "ISA1"),
    ("LOAD", "bank_id", 128, "ISA1X"),
    ("LOAD", "ddr_addr", 1 << 29, "ISA1"),
    ("CONV", "bank_addr_in", 4096, "ISA1"),
    ("CONV", "bank_addr_in", 16384, "ISA1X"),
    ("CONVINIT", "shift_bias", -33, "ISA1"),
    ("CONVINIT", "act_type", 2, "ISA1"),
    ("ELEW", "shift_write", 64, "ISA1"),
    ("POOLINIT", "kernel_h", 9, "ISA1"),
    ("ALUINIT", "kernel_w", 257, "ISA1X"),
])
def test_out_of_range_raises_field_range_error(kind, field, value, isa):
    instr = make(kind, **{field: value})
    with pytest.raises(FieldRangeError) as err:
        encode([instr], isa)
    e = err.value
    assert (e.kind, e.field, e.value) == (kind, field, value)
    assert kind in str(e) and repr(field) in str(e) and str(value) in str(e)


def test_wider_variant_accepts_what_isa1_rejects():
    i = make("LOAD", bank_id=100, bank_addr=8000, ddr_addr=(1 << 32) - 1)
    with pytest.raises(FieldRangeError):
        encode([i], "ISA1")
    assert decode(encode([i], "ISA1X"), "ISA1X") == [i]


def test_bad_names_types_and_dependency_bits():
    with pytest.raises(IsaError, match="no field 'lenght'"):
        make("LOAD", lenght=3)
    with pytest.raises(IsaError, match="unknown instruction kind"):
        make("NOP")
    with pytest.raises(IsaError, match="integer"):
        make("LOAD", length=2.0)
    with pytest.raises(FieldRangeError, match="dpdon"):
        encode([make("LOAD", dpdon=["LOAD"])])  # its own engine
    with pytest.raises(FieldRangeError, match="dpdby"):
        encode([make("END", dpdby=["CONV"])])
    with pytest.raises(FieldRangeError, match="dpdon"):
        encode([make("CONV", dpdon=16)])


def test_numpy_integers_are_accepted():
    i = make("CONV", length=np.int64(7))
    i.fields["bank_id_in"] = np.int32(3)
    assert decode(encode([i]))[0]["bank_id_in"] == 3


def words_to_bytes(words):
    return struct.pack(f"<{len(words)}I", *words)


def test_decode_unknown_opcode_names_offset():
    data = encode([make("LOAD"), make("END")]) + words_to_bytes([0x3 << 28])
    with pytest.raises(DecodeError) as err:
        decode(data)
    assert err.value.offset == 24 and "unknown opcode 0x3" in str(err.value) and "24" in str(err.value)


def test_decode_truncated_stream():
    full = encode([make("END"), make("CONV")])
    with pytest.raises(DecodeError) as err:
        decode(full[:-4])
    assert err.value.offset == 4 and "truncated" in str(err.value)


def test_decode_stray_bytes():
    with pytest.raises(DecodeError) as err:
        decode(encode([make("END"), make("END")]) + b"\x00\x00")
    assert err.value.offset == 8 and "stray" in str(err.value)
    with pytest.raises(DecodeError) as err:
        decode(b"\x00\x00\x00")
    assert err.value.offset == 0


def test_decode_reserved_bits_enum_and_dependency_errors():
    good = encode([make("END"), make("LOAD"), make("CONVINIT")])
    words = list(struct.unpack(f"<{len(good) // 4}I", good))
    bad = list(words)
    bad[1] |= 1 << 12  # LOAD word 0 rsv bit
    with pytest.raises(DecodeError) as err:
        decode(words_to_bytes(bad))
    assert err.value.offset == 4 and "reserved" in str(err.value)
    bad = list(words)
    bad[6] |= 2 << 16  # CONVINIT act_type = PRELU, not accepted by the conv engine
    with pytest.raises(DecodeError) as err:
        decode(words_to_bytes(bad))
    assert err.value.offset == 24 and "act_type" in str(err.value)
    bad = list(words)
    bad[1] |= 1 << 24  # LOAD dpdon naming LOAD
    with pytest.raises(DecodeError) as err:
        decode(words_to_bytes(bad))
    assert err.value.offset == 4 and "dpdon" in str(err.value)
    bad = list(words)
    bad[0] |= 1 << 20  # END with a dependency bit
    bad[6] |= 2 << 16
    with pytest.raises(DecodeError) as err:
        decode(words_to_bytes(bad))
    assert err.value.offset == 0  # the earliest problem wins


def test_decode_one_expects_exactly_one():
    assert decode_one(encode([make("END")])) == make("END")
    with pytest.raises(DecodeError) as err:
        decode_one(encode([make("SAVE"), make("END")]))
    assert err.value.offset == 20
    with pytest.raises(DecodeError):
        decode_one(b"")
    with pytest.raises(IsaError):
        decode("not bytes")


def test_large_stream_round_trip():
    kinds = [k for k in KINDS if k != "END"]
    instrs = [make(kinds[i % len(kinds)], length=1 + i % 1000) if "length" in make(kinds[i % len(kinds)]).fields
              else make(kinds[i % len(kinds)]) for i in range(20000)]
    for isa in ISAS:
        assert decode(encode(instrs, isa), isa) == instrs


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_coding_functions_agree_with_the_codec(data):
    from xir.isa.fields import from_raw, to_raw

    isa = data.draw(st.sampled_from(ISAS))
    kind = data.draw(st.sampled_from([k for k in KINDS if k != "END"]))
    slot = data.draw(st.sampled_from(payload_slots(kind, isa)))
    value = data.draw(st.sampled_from(slot.choices) if slot.choices else st.integers(slot.lo, slot.hi))
    raw = to_raw(slot, value)
    assert 0 <= raw <= slot.mask and from_raw(slot, raw) == value
    words = struct.unpack(f"<{word_count(kind, isa)}I", encode_one(make(kind, **{slot.name: value}), isa))
    assert (words[slot.word] >> slot.lsb) & slot.mask == raw


# ---- the vectorized stream encoder against encode_one --------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.data())
def test_stream_encode_is_the_concatenation_of_encode_one(data):
    isa = data.draw(st.sampled_from(ISAS))
    instrs = data.draw(st.lists(instructions(isa), min_size=1, max_size=60))
    from xir.isa.codec import _encode_fast
    fast = _encode_fast(instrs, isa)
    assert fast is not None                       # plain valid streams take the packed path
    assert fast == b"".join(encode_one(i, isa) for i in instrs) == encode(iter(instrs), isa)


def _first_error(instrs, isa="ISA1"):
    for i, ins in enumerate(instrs):
        try:
            if not isinstance(ins, Instruction):
                raise IsaError(f"item {i} of the instruction list is a {type(ins).__name__}, not an Instruction")
            encode_one(ins, isa)
        except IsaError as e:
            return type(e), str(e)
    return None


@pytest.mark.parametrize("spoil", ["bool", "float", "range", "enum", "extra", "missing", "dep", "hugedep", "item",
                                   "numpy", "kind"])
def test_stream_encode_falls_back_to_the_checked_path(spoil):
    """Anything but plain in-range Python ints takes the one-by-one path: the same bytes when it is
    acceptable (numpy ints, missing fields), else the error encode_one gives for the first culprit."""
    instrs = [make("LOAD", length=4, channel=16), make("CONV", length=3), make("SAVE", length=2), make("END")]
    bad = [make("CONV", length=5), make("LOAD", length=1)]
    victim = bad[0]
    if spoil == "bool":
        victim.fields["length"] = True
    elif spoil == "float":
        victim.fields["length"] = 2.0
    elif spoil == "range":
        victim.fields["length"] = 5000
    elif spoil == "enum":
        victim = bad[0] = make("CONVINIT")
        victim.fields["act_type"] = 9             # fits the 4 bits, names no activation
    elif spoil == "extra":
        victim.fields["bogus"] = 1
    elif spoil == "missing":
        del victim.fields["length"]
    elif spoil == "dep":
        victim.dpdon = 1 << 2                     # its own engine
    elif spoil == "hugedep":
        victim.dpdby = 1 << 70
    elif spoil == "numpy":
        victim.fields["length"] = np.int16(9)
    elif spoil == "kind":
        victim = bad[0] = Instruction._trusted("NOP", {}, 0, 0)
    stream = instrs[:2] + bad + instrs[2:]
    if spoil == "item":
        stream = instrs[:2] + ["LOAD"] + instrs[2:]
    expected = _first_error(stream)
    if expected is None:
        assert encode(stream) == b"".join(encode_one(i) for i in stream)
    else:
        with pytest.raises(expected[0]) as err:
            encode(stream)
        assert str(err.value) == expected[1]
