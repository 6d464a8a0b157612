"""The built-in catalog: published facts, unique fingerprints, bank ids that fit the ISA variant."""

import pytest

from xir.target import (
    ISA_LAYOUTS,
    TargetError,
    catalog_boards,
    catalog_targets,
    target_by_fingerprint,
    target_by_name,
)

TABLE_OPS = {"B512": 512, "B800": 800, "B1024": 1024, "B1152": 1152, "B1600": 1600,
             "B2304": 2304, "B3136": 3136, "B4096": 4096}
ALL = [*catalog_targets().values(), *catalog_boards().values()]


def test_fingerprints_are_unique_across_targets():
    prints = [t.fingerprint for t in catalog_targets().values()]
    assert len(prints) == len(set(prints))


def test_every_board_uses_a_catalog_target_and_its_fingerprint():
    targets = catalog_targets()
    for key, board in catalog_boards().items():
        assert key == f"{board.family}/{board.board}"
        assert targets[board.name].fingerprint == board.fingerprint


@pytest.mark.parametrize("size", list(TABLE_OPS))
def test_zdx8g_peak_ops_per_cycle_match_the_table(size):
    t = catalog_targets()[f"DPUCZDX8G_ISA1_{size}"]
    assert t.peak_ops_per_cycle == TABLE_OPS[size]
    assert catalog_boards()[f"DPUCZDX8G/{size}"].peak_ops_per_cycle == TABLE_OPS[size]


@pytest.mark.parametrize("t", ALL, ids=lambda t: t.key or t.name)
def test_bank_ids_and_depths_fit_the_isa_variant(t):
    if not t.compilable:
        assert t.isa is None and t.banks == ()
        return
    layout = ISA_LAYOUTS[t.isa]
    assert t.isa == ("ISA1" if t.family == "DPUCZDX8G" else "ISA1X")
    ids = [i for b in t.banks for i in b.ids]
    assert len(ids) == len(set(ids))
    assert max(ids) <= layout.max_bank_id
    assert all(b.depth <= layout.max_depth for b in t.banks)


def test_isa_layouts_have_the_documented_field_widths():
    assert (ISA_LAYOUTS["ISA1"].max_depth, ISA_LAYOUTS["ISA1"].max_bank_id) == (4096, 63)
    assert (ISA_LAYOUTS["ISA1X"].max_depth, ISA_LAYOUTS["ISA1X"].max_bank_id) == (16384, 127)


def test_b4096_banks_are_the_published_ones():
    t = catalog_targets()["DPUCZDX8G_ISA1_B4096"]
    shape = {b.name: (b.kind, b.count, b.width, b.depth) for b in t.banks}
    assert shape == {
        "VB0": ("image", 8, 16, 2048), "VB1": ("image", 8, 16, 2048),
        "WB": ("weights", 16, 16, 2048), "DWB": ("dwweights", 1, 16, 2048), "BB": ("bias", 1, 16, 2048),
    }
    assert t.bank_group("VB0").bytes == 256 * 1024 and t.weights_group.bytes == 512 * 1024
    assert t.image_bank_ids == tuple(range(16))
    assert (t.dw_pp, t.alu_pp, t.limits.conv_out_channels_max) == (4, 4, 4096)


def test_smaller_zdx8g_banks_scale_with_the_size():
    t = catalog_targets()["DPUCZDX8G_ISA1_B1152"]
    assert [(b.count, b.width) for b in t.image_groups] == [(4, 12), (4, 12)]
    assert (t.weights_group.count, t.weights_group.width) == (12, 12)
    assert (t.pp, t.icp, t.ocp, t.alu_pp, t.dw_pp) == (4, 12, 12, 2, 2)


@pytest.mark.parametrize("key, name, cores, clock", [
    ("DPUCZDX8G/ZCU102", "DPUCZDX8G_ISA1_B4096", 3, 281.0),
    ("DPUCZDX8G/ZCU104", "DPUCZDX8G_ISA1_B4096", 2, 300.0),
    ("DPUCZDX8G/KV260", "DPUCZDX8G_ISA1_B4096", 1, 300.0),
    ("DPUCZDX8G/Ultra96", "DPUCZDX8G_ISA1_B1600", 1, 287.0),
    ("DPUCZDX8G/B512", "DPUCZDX8G_ISA1_B512", 1, 300.0),
    ("DPUCADF8H/U200", "DPUCADF8H_ISA0", 2, 300.0),
    ("DPUCADF8H/U250", "DPUCADF8H_ISA0", 4, 300.0),
    ("DPUCAHX8H/U50", "DPUCAHX8H_ISA2", 2, 300.0),
    ("DPUCAHX8H/U50LV", "DPUCAHX8H_ISA2", 2, 275.0),
    ("DPUCAHX8H/U280", "DPUCAHX8H_ISA2", 3, 300.0),
    ("DPUCVDX8G/VCK190", "DPUCVDX8G_ISA3_C32B6", 1, 1250.0),
    ("DPUCADX8G/U200", "DPUCADX8G", 2, 350.0),
    ("DPUCADX8G/U250", "DPUCADX8G", 4, 350.0),
])
def test_board_facts(key, name, cores, clock):
    b = catalog_boards()[key]
    assert (b.name, b.cores, b.clock_mhz) == (name, cores, clock)


def test_published_peak_figures():
    boards = catalog_boards()
    assert round(boards["DPUCAHX8H/U50"].peak_gops) == 7373
    assert round(boards["DPUCVDX8G/VCK190"].peak_gops / 1000, 1) == 61.4
    assert boards["DPUCZDX8G/ZCU102"].peak_gops == pytest.approx(4096 * 281 * 3 / 1000)


def test_dpucahx8h_engines_are_batch_lanes_per_core():
    boards = catalog_boards()
    assert boards["DPUCAHX8H/U50"].core_batches == (3, 3)
    assert boards["DPUCAHX8H/U50LV"].core_batches == (5, 5)
    u280 = boards["DPUCAHX8H/U280"]
    assert (u280.core_batches, u280.batch, u280.lanes) == ((4, 5, 5), 5, 14)
    assert u280.limits.conv_stride_max == 4 and u280.limits.pool_kernel_max == 8


def test_dpucadf8h_facts():
    t = catalog_targets()["DPUCADF8H_ISA0"]
    assert (t.pp, t.icp, t.ocp, t.batch, t.alu_pp, t.dw_pp) == (8, 16, 16, 4, 2, 4)
    assert [(b.count, b.width, b.depth) for b in t.image_groups] == [(8, 16, 8192)] * 3
    assert t.bias_group is t.weights_group and t.dwweights_group.width == 64


def test_dpucadx8g_tensor_memory_is_nine_mib():
    t = catalog_targets()["DPUCADX8G"]
    assert sum(b.bytes for b in t.image_groups) == 9 * 1024 * 1024
    assert t.icp * t.ocp == 96 * 16


def test_ipu_target_is_quantization_only():
    t = catalog_targets()["AMD_AIE2_Nx4_Overlay_cfg0"]
    assert not t.compilable and t.family == "IPU_PHX" and t.isa_layout is None
    assert t.conv_weights_fit(16, 16, 4096)             # no banks modelled: no weight-bank bound


def test_ipu_overlay_is_also_named_without_its_configuration():
    assert target_by_name("AMD_AIE2_Nx4_Overlay") is catalog_targets()["AMD_AIE2_Nx4_Overlay_cfg0"]
    assert target_by_name("amd_aie2_nx4_overlay").name == "AMD_AIE2_Nx4_Overlay_cfg0"


def test_lookup_by_name_is_case_insensitive_and_unknown_names_list_known_ones():
    assert target_by_name("dpuczdx8g_isa1_b4096").name == "DPUCZDX8G_ISA1_B4096"
    with pytest.raises(TargetError, match=r"unknown target name 'NOPE'; known: DPUCZDX8G_ISA1_B512, "):
        target_by_name("NOPE")


def test_lookup_by_fingerprint():
    assert target_by_fingerprint("0x101000056010407").name == "DPUCZDX8G_ISA1_B4096"
    assert target_by_fingerprint(0x101000016010407).name == "DPUCZDX8G_ISA1_B4096_0101000016010407"
    with pytest.raises(TargetError, match=r"fingerprint 0xdead is not in the target catalog; known: .*\(0x101000056010407\)"):
        target_by_fingerprint("0xdead")
