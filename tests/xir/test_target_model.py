"""Target invariants: construction rejects impossible targets naming the key; dict round trip."""

from dataclasses import replace

import pytest

from xir.target import BankGroup, Target, TargetError, catalog_boards, catalog_targets

ALL = [*catalog_targets().values(), *catalog_boards().values()]
B4096 = catalog_targets()["DPUCZDX8G_ISA1_B4096"]
U280 = catalog_boards()["DPUCAHX8H/U280"]


@pytest.mark.parametrize("t", ALL, ids=lambda t: t.key or t.name)
def test_to_dict_from_dict_round_trip(t):
    assert Target.from_dict(t.to_dict()) == t


def test_derived_identity_fields():
    assert (B4096.family, B4096.type_code, B4096.isa_version, B4096.feature_code) == ("DPUCZDX8G", 1, 1, 0x56010407)
    assert B4096.fingerprint_hex == "0x101000056010407"
    assert B4096.key is None and catalog_boards()["DPUCZDX8G/KV260"].key == "DPUCZDX8G/KV260"


def test_conv_weights_fit_rule():
    assert B4096.conv_weights_fit(3, 3, 16 * 227)  # 9 * 227 = 2043 <= 2048
    assert not B4096.conv_weights_fit(3, 3, 16 * 228)


def test_bank_group_lookup():
    assert B4096.bank_group("WB").first_id == 16
    with pytest.raises(TargetError, match=r"has no bank group 'XB'; known: VB0, VB1, WB, DWB, BB"):
        B4096.bank_group("XB")
    with pytest.raises(TargetError, match="unknown bank kind"):
        B4096.groups("scratch")


def _banks_with(target, name, **changes):
    return tuple(replace(b, **changes) if b.name == name else b for b in target.banks)


@pytest.mark.parametrize("changes, key", [
    (dict(pp=4), "key 'pp' must be 8 as fingerprint 0x101000056010407 says"),
    (dict(alu_pp=2), "key 'alu_pp' must be 4"),
    (dict(clock_mhz=0), "key 'clock_mhz' must be a finite number > 0"),
    (dict(cores=2), "key 'core_batches' must be a list of 2 integers"),
    (dict(dw_pp=0), "key 'dw_pp'"),
    (dict(isa="ISA1X"), "key 'isa' must be 'ISA1' for DPUCZDX8G targets"),
    (dict(board="a/b"), "key 'board' must be a board name without '/'"),
    (dict(fingerprint=0x3F << 56), "key 'fingerprint' must be a fingerprint of a known DPU type"),
    (dict(compilable=False), "key 'isa' must be null"),
])
def test_impossible_values_are_rejected_naming_the_key(changes, key):
    with pytest.raises(TargetError) as err:
        replace(B4096, **changes)
    assert key in str(err.value)


def test_bank_ids_beyond_isa1_are_rejected():
    with pytest.raises(TargetError, match=r"key 'banks\[BB\].first_id' must be such that ids fit ISA1's 0..63"):
        replace(B4096, banks=_banks_with(B4096, "BB", first_id=64))
    with pytest.raises(TargetError, match=r"key 'banks\[VB0\].depth' must be <= 4096"):
        replace(B4096, banks=_banks_with(B4096, "VB0", depth=8192))
    with pytest.raises(TargetError, match="do not overlap group 'VB0'"):
        replace(B4096, banks=_banks_with(B4096, "BB", first_id=3))


def test_bank_shapes_must_match_parallelism():
    with pytest.raises(TargetError, match=r"banks\[WB\]' must be ocp=16 banks of icp=16 bytes"):
        replace(B4096, banks=_banks_with(B4096, "WB", count=8))
    with pytest.raises(TargetError, match="a multiple of pp=8 banks"):
        replace(B4096, banks=_banks_with(B4096, "VB1", count=4))
    with pytest.raises(TargetError, match="with 2 image groups as fingerprint"):
        replace(B4096, banks=tuple(b for b in B4096.banks if b.name != "VB1"))
    with pytest.raises(TargetError, match="exactly one weights group"):
        replace(B4096, banks=(*B4096.banks, BankGroup("WB2", "weights", 40, 16, 16, 16)))
    with pytest.raises(TargetError, match="a dwweights group"):
        replace(B4096, banks=tuple(b for b in B4096.banks if b.kind != "dwweights"))
    with pytest.raises(TargetError, match=r"key 'banks\[X\].kind' must be one of image, weights"):
        BankGroup("X", "scratch", 0, 1, 1, 1)


def test_fingerprint_features_bind_limits():
    with pytest.raises(TargetError, match="limits.save_argmax"):
        replace(B4096, limits=replace(B4096.limits, save_argmax=False))
    with pytest.raises(TargetError, match="limits.conv_nonlinears' must be set to include LEAKYRELU"):
        replace(B4096, limits=replace(B4096.limits, conv_nonlinears=("NONE", "RELU")))


def test_limits_of_absent_engines_must_be_empty():
    with pytest.raises(TargetError, match="limits.alu_kernel_max' must be in 0..0"):
        replace(B4096.limits, alu=False)
    with pytest.raises(TargetError, match="limits.conv_nonlinears' must be a list drawn from"):
        replace(B4096.limits, conv_nonlinears=("NONE", "GELU"))
    with pytest.raises(TargetError, match="limits.conv_kernel_max' must be an integer >= 1"):
        replace(B4096.limits, conv_kernel_max=0)


def test_core_batches_must_peak_at_batch():
    assert replace(U280, core_batches=(5, 5, 5)).lanes == 15
    with pytest.raises(TargetError, match="largest entry equals batch"):
        replace(U280, core_batches=(4, 4, 4))
    with pytest.raises(TargetError, match=r"key 'core_batches' must be in 1..5"):
        replace(U280, core_batches=(4, 5, 6))


def test_from_dict_names_source_and_key():
    data = B4096.to_dict()
    data["limits"]["bogus"] = 1
    with pytest.raises(TargetError, match=r"^invalid target description in my.json: unknown key 'limits.bogus'"):
        Target.from_dict(data, "my.json")
    data = B4096.to_dict()
    del data["pp"]
    with pytest.raises(TargetError, match="missing key 'pp'"):
        Target.from_dict(data, "my.json")
