"""Fingerprint packing and the two feature-code layouts (published DPUCZDX8G, project parallelism)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xir.target import (
    TYPE_CODES,
    TargetError,
    decode_fingerprint,
    decode_parallel_features,
    decode_zdx8g_features,
    encode_fingerprint,
    encode_parallel_features,
    encode_zdx8g_features,
    format_fingerprint,
    parse_fingerprint,
)

# The published DPUCZDX8G table (docs/targets.md): name -> (PP, ICP=OCP, ops/cycle, feature code)
ZDX8G_TABLE = {
    "B512": (4, 8, 512, 0x000056010200),
    "B800": (4, 10, 800, 0x000056010201),
    "B1024": (8, 8, 1024, 0x000056010402),
    "B1152": (4, 12, 1152, 0x000056010203),
    "B1600": (8, 10, 1600, 0x000056010404),
    "B2304": (8, 12, 2304, 0x000056010405),
    "B3136": (8, 14, 3136, 0x000056010406),
    "B4096": (8, 16, 4096, 0x000056010407),
}


@pytest.mark.parametrize("size", list(ZDX8G_TABLE))
def test_every_published_zdx8g_feature_code_round_trips(size):
    pp, _, _, code = ZDX8G_TABLE[size]
    feats = decode_zdx8g_features(code)
    assert feats["size"] == size
    assert feats["alu_pp"] == (2 if pp == 4 else 4)
    assert feats["bank_groups"] == 2
    assert feats["channel_augmentation"] and feats["conv_leakyrelu"] and feats["save_argmax"]
    assert not feats["alu_leakyrelu"]
    assert feats["bits_19_16"] == 1
    assert encode_zdx8g_features(**feats) == code


def test_published_board_fingerprint_decodes_as_b4096_without_argmax():
    fp = decode_fingerprint("0x101000016010407")
    assert (fp.family, fp.type_code, fp.isa_version, fp.feature_code) == ("DPUCZDX8G", 1, 1, 0x16010407)
    feats = fp.features
    assert feats["size"] == "B4096" and not feats["save_argmax"] and feats["conv_leakyrelu"]
    assert encode_fingerprint("DPUCZDX8G", 1, encode_zdx8g_features(**feats)) == 0x101000016010407
    assert str(fp) == "0x101000016010407" and fp.value == 0x101000016010407


def test_encode_places_type_isa_and_features():
    assert encode_fingerprint("dpuczdx8g", 1, 0x56010407) == 0x101000056010407
    assert encode_fingerprint(7, 0, 0x1) == 0x0700000000000001
    assert encode_fingerprint("DPUCADX8G", 0, 0) == TYPE_CODES["DPUCADX8G"] << 56


def test_type_codes_are_the_published_ones_and_dpucadx8g_is_distinct():
    published = {"DPUCZDX8G": 1, "DPUCAHX8H": 2, "DPUCAHX8L": 3, "DPUCZDI4G": 4, "DPUCVDX8H": 5,
                 "DPUCVDX8G": 6, "DPUCADF8H": 7, "IPU_PHX": 8, "DPUCV2DX8G": 9}
    assert {k: TYPE_CODES[k] for k in published} == published
    assert TYPE_CODES["DPUCADX8G"] not in published.values()


def test_format_is_lowercase_hex_without_padding():
    assert format_fingerprint(0x101000016010407) == "0x101000016010407"
    assert format_fingerprint(0) == "0x0"


def test_parse_accepts_hex_decimal_and_int():
    assert parse_fingerprint("0X101000016010407") == 0x101000016010407
    assert parse_fingerprint(" 0x10 ") == 16
    assert parse_fingerprint("72339069014638592") == 72339069014638592
    assert parse_fingerprint(5) == 5


@pytest.mark.parametrize("bad", ["zzz", "0xg1", "", 1 << 64, -1, "0x1" + "0" * 16, True, 1.5])
def test_parse_rejects_non_fingerprints(bad):
    with pytest.raises(TargetError):
        parse_fingerprint(bad)


def test_encode_rejects_unknown_family_and_oversized_fields():
    with pytest.raises(TargetError, match="unknown DPU family 'DPUXYZ'"):
        encode_fingerprint("DPUXYZ", 0, 0)
    with pytest.raises(TargetError, match="feature_code"):
        encode_fingerprint(1, 0, 1 << 48)
    with pytest.raises(TargetError, match="isa_version"):
        encode_fingerprint(1, 256, 0)


def test_unknown_type_decodes_without_family_but_cannot_decode_features():
    fp = decode_fingerprint(0x3F00000000000000)
    assert fp.family is None and fp.type_code == 0x3F
    with pytest.raises(TargetError, match="type code 63 is not a known DPU type"):
        fp.features


def test_zdx8g_decoder_rejects_undefined_bits_and_sizes():
    with pytest.raises(TargetError, match="bits the published layout does not define"):
        decode_zdx8g_features(0x56010407 | 1 << 31)
    with pytest.raises(TargetError, match="size code 8"):
        decode_zdx8g_features(0x56010408)
    with pytest.raises(TargetError, match="unknown DPUCZDX8G size"):
        encode_zdx8g_features("B999", 4, 2, True, True, False, True)


@given(
    size=st.sampled_from(list(ZDX8G_TABLE)),
    alu_pp=st.integers(0, 15),
    bank_groups=st.integers(0, 3),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
    bits_19_16=st.integers(0, 15),
)
def test_zdx8g_layout_round_trips_every_field(size, alu_pp, bank_groups, flags, bits_19_16):
    args = dict(size=size, alu_pp=alu_pp, bank_groups=bank_groups, channel_augmentation=flags[0],
                conv_leakyrelu=flags[1], alu_leakyrelu=flags[2], save_argmax=flags[3], bits_19_16=bits_19_16)
    assert decode_zdx8g_features(encode_zdx8g_features(**args)) == args


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_parallel_layout_round_trips(pp, icp, ocp, batch, variant):
    code = encode_parallel_features(pp, icp, ocp, batch, variant)
    assert code < 1 << 40
    assert decode_parallel_features(code) == dict(pp=pp, icp=icp, ocp=ocp, batch=batch, variant=variant)


def test_parallel_layout_rejects_high_bits_and_wide_values():
    with pytest.raises(TargetError, match="above bit 39"):
        decode_parallel_features(1 << 40)
    with pytest.raises(TargetError, match="icp"):
        encode_parallel_features(8, 256, 16, 1)
