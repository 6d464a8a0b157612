"""The cycle model: costs from fields and INIT state, in-order engines, token-driven overlap."""
import math
from dataclasses import replace

from xir.isa import make
from xir.target import Overheads, load_target
from vairun.timing import profile_program
from vairun.timing.costs import INIT_CYCLES

T = load_target("DPUCZDX8G/KV260")
#: the same target with fixed round parameters, for tests of the mechanism rather than of the values
T_FIXED = replace(T, overheads=Overheads(load=16, save=16, conv=10, misc=10, ddr_latency=80, job=0),
                  ddr_bytes_per_cycle=32.0)


def load(dpdon=0, dpdby=0, length=64, channel=64, layer="l"):
    return make("LOAD", length=length, channel=channel, dpdon=dpdon, dpdby=dpdby, layer=layer)


def conv(dpdon=0, dpdby=0, length=64, cg=4, layer="l"):
    return make("CONV", length=length, channel_group=cg, dpdon=dpdon, dpdby=dpdby, layer=layer)


def test_costs_follow_the_documented_formulas():
    init = make("CONVINIT", kernel_h=3, kernel_w=3, valid_pixel_parallel=8, layer="c")
    p = profile_program([init, conv(layer="c"), make("END")], T)
    conv_cycles = 64 * 3 * 3 * 4 + T.overheads.conv
    assert p.cycles == INIT_CYCLES + conv_cycles + T.overheads.job   # one job: its fixed cost once
    assert p.macs == 8 * 64 * 9 * 4 * 16 * 16
    ld = profile_program([load(), make("END")], T)
    assert ld.busy["LOAD"] == T.overheads.load + math.ceil(64 * 64 / T.ddr_bytes_per_cycle)
    # data lands after the DDR latency
    assert ld.cycles == ld.busy["LOAD"] + T.overheads.ddr_latency + T.overheads.job
    assert ld.ddr_bytes == 64 * 64


def test_channel_augmentation_packs_kernel_taps_of_few_input_channels():
    """A first layer (3 real input channels of one 16-channel group, 7x7 kernel): with channel
    augmentation the 7 taps x 3 channels of a kernel row take ceil(21 / 16) = 2 steps instead of 7."""
    init = make("CONVINIT", kernel_h=7, kernel_w=7, valid_pixel_parallel=8, layer="c")
    first = make("CONV", length=56, channel_group=1, channel_offset=13, layer="c")
    p = profile_program([init, first, make("END")], T)
    assert T.features["channel_augmentation"]
    assert p.busy["CONV"] == INIT_CYCLES + 56 * 7 * 2 + T.overheads.conv
    assert p.macs == 8 * 56 * 49 * 3 * 16
    plain = profile_program([init, make("CONV", length=56, channel_group=1, layer="c"), make("END")], T)
    assert plain.busy["CONV"] == INIT_CYCLES + 56 * 49 + T.overheads.conv   # 16 real channels: nothing to pack
    dadf = load_target("DPUCADF8H/U200")   # no channel augmentation feature
    assert not dadf.features.get("channel_augmentation")
    assert profile_program([init, first, make("END")], dadf).busy["CONV"] == INIT_CYCLES + 56 * 49 + dadf.overheads.conv


def test_each_dpu_subgraph_run_pays_the_job_overhead_once():
    s = [make("CONVINIT", kernel_h=1, kernel_w=1), conv(cg=1), make("END")]
    base = profile_program(s, T)
    assert T.overheads.job > 0
    assert base.cycles == INIT_CYCLES + 64 + T.overheads.conv + T.overheads.job
    assert abs(base.latency_ms - base.cycles / (T.clock_mhz * 1e3)) < 1e-12


def test_load_of_next_tile_overlaps_conv_of_this_one():
    L, C = 1, 4  # engine masks: LOAD bit 0, CONV bit 2
    serial = [make("CONVINIT", kernel_h=3, kernel_w=3), load(dpdby=C), conv(dpdon=L, dpdby=L),
              load(dpdon=C, dpdby=C), conv(dpdon=L), make("END")]
    overlapped = [make("CONVINIT", kernel_h=3, kernel_w=3), load(dpdby=C), load(dpdby=C), conv(dpdon=L),
                  conv(dpdon=L), make("END")]
    ps, po = profile_program(serial, T_FIXED), profile_program(overlapped, T_FIXED)
    assert po.cycles < ps.cycles
    # with overlap the second LOAD runs while the first CONV computes
    ev = {e.index: e for e in po.events}
    assert ev[2].start < ev[3].end and ev[2].end > ev[3].start   # the two intervals really overlap
    assert ev[3].start >= ev[1].end + T_FIXED.overheads.ddr_latency
    assert po.busy["CONV"] == ps.busy["CONV"]


def test_layers_are_attributed_and_fps_uses_every_core_lane():
    z = load_target("DPUCZDX8G/ZCU102")  # 3 cores
    s = [make("CONVINIT", kernel_h=1, kernel_w=1, layer="a"), conv(layer="a", cg=1), make("CONVINIT", layer="b"),
         conv(layer="b", cg=2), make("END")]
    p = profile_program(s, z)
    assert [l.name for l in p.layers] == ["a", "b"]
    assert p.layers[1].start >= p.layers[0].end
    assert abs(p.fps - 3 / (p.latency_ms / 1e3)) < 1e-6
    assert abs(p.latency_ms - p.cycles / (z.clock_mhz * 1e3)) < 1e-9
    d = p.to_dict()
    assert {"cycles", "latency_ms", "fps", "utilization", "layers"} <= set(d)
