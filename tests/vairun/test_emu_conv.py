"""CONVINIT/CONV on the emulator equal the reference conv2d_fix bit for bit: real data moves
LOAD -> CONV -> SAVE on small targets (ISA1 and ISA1X), with padding, stride 2, channel groups with a
masked tail, sweeps that wrap around the lane block, activations and both signs of shift_bias."""

import numpy as np
import pytest

from emu_support import (IN_REG, OUT_REG, PARAM_REG, chain, fill_garbage, flat, input_slots, load_bytes,
                         load_rows, output_slots, rand_q, save_rows)
from vairun.emu import Machine
from xir.isa import ActType, encode, make
from xir.kernels import conv2d_fix
from xir.target import load_target


def conv_stream(t, *, h, w, cin, kernel, stride, pad, rows, length, shift_cut, shift_bias, act,
                first_lane=0, in_group=0, out_group=1, stride_out=1, offset_out=0, w_addr=5, b_addr=700):
    """CONVINIT + CONV for a whole (small) image in one block, plus its LOADs and SAVEs."""
    pp, icp, ocp = t.pp, t.icp, t.ocp
    kh, kw = kernel
    sh, sw = stride
    groups = -(-cin // icp)
    in_bank0 = t.image_groups[in_group].first_id
    out_bank0 = t.image_groups[out_group].first_id
    ocp_lines = -(-ocp // icp)
    init = make(
        "CONVINIT", kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, valid_pixel_parallel=rows,
        shift_cut=shift_cut, shift_bias=shift_bias, act_type=int(act), jump_read=groups,
        jump_read_endl=w * groups + 3, jump_write=ocp_lines, jump_write_endl=length * ocp_lines + 1,
        stride_out=stride_out, stride_offset_out=offset_out)
    op = make("CONV", bank_id_in=in_bank0 + first_lane, bank_addr_in=40, bank_addr_in_1=300, bank_addr_in_2=600,
              bank_addr_in_3=900, pad_top=pad[2], pad_bottom=pad[3], pad_left=pad[0], pad_right=pad[1],
              channel_group=groups, length=length, bank_addr_weights=w_addr, bank_addr_bias=b_addr,
              bank_id_out=out_bank0 + first_lane, bank_addr_out=20, channel_offset=groups * icp - cin)
    tile_rows = (rows - 1) * sh + kh - pad[2] - pad[3]
    assert tile_rows == h
    banks, lines = input_slots(init, op, tile_rows, pp)
    loads = load_rows(banks, lines, jump=groups, first_row=0, width_px=w, channels=cin)
    wbytes = kh * kw * groups * icp
    for j in range(ocp):
        loads.append(load_bytes(t.weights_group.first_id + j, w_addr, offset=j * wbytes, nbytes=wbytes))
    loads.append(load_bytes(t.bias_group.first_id, b_addr, offset=ocp * wbytes, nbytes=ocp))
    obanks, olines = output_slots(init, op, rows, pp)
    saves = save_rows(obanks, olines, jump=ocp_lines, length=length, channels=ocp)
    return chain(loads, [init, op], saves, "CONV"), groups


def params(rng, wq, bq, groups, icp):
    """Weights [OCP, kh, kw, cin] padded to groups*icp channels with random junk (the masked tail must
    not matter), then the OCP biases."""
    ocp, kh, kw, cin = wq.shape
    wpad = rng.integers(-128, 128, size=(ocp, kh, kw, groups * icp))
    wpad[..., :cin] = wq
    return np.concatenate([wpad.reshape(-1), bq]).astype(np.int8)


def run_case(target_name, *, h, w, cin, kernel, stride, pad, fps, act, batch=1, seed=0, **kw):
    t = load_target(target_name)
    rng = np.random.default_rng(seed)
    fp_in, fp_w, fp_b, fp_out = fps
    kh, kwid = kernel
    sh, sw = stride
    rows = (h + pad[2] + pad[3] - kh) // sh + 1
    length = (w + pad[0] + pad[1] - kwid) // sw + 1
    x = rand_q(rng, (batch, h, w, cin))
    wq = rand_q(rng, (t.ocp, kh, kwid, cin))
    bq = rand_q(rng, (t.ocp,))
    stream, groups = conv_stream(t, h=h, w=w, cin=cin, kernel=kernel, stride=stride, pad=pad, rows=rows,
                                 length=length, shift_cut=fp_in + fp_w - fp_out, shift_bias=fp_in + fp_w - fp_b,
                                 act=act, **kw)
    m = Machine(t, batch=batch)
    fill_garbage(m, rng)
    m.set_reg(IN_REG, flat(x))
    m.set_reg(PARAM_REG, params(rng, wq, bq, groups, t.icp), shared=True)
    m.set_reg(OUT_REG, np.zeros(rows * length * t.ocp, np.int8))
    m.run(stream)
    got = np.asarray(m.get_reg(OUT_REG)).reshape(batch, rows, length, t.ocp)
    ref = conv2d_fix(x, wq, bq, fp_in=fp_in, fp_w=fp_w, fp_b=fp_b, fp_out=fp_out, stride=(sw, sh), pad=pad,
                     nonlinear=act.name)
    return got, ref, stream, m


@pytest.mark.parametrize("target_name", ["DPUCZDX8G/KV260", "DPUCZDX8G/B512", "DPUCADF8H/U250"])
def test_conv3x3_stride2_padding_masked_groups(target_name):
    t = load_target(target_name)
    cin = t.icp + 4  # two channel groups, the last one masked by channel_offset = icp - 4
    got, ref, _, _ = run_case(target_name, h=7, w=9, cin=cin, kernel=(3, 3), stride=(2, 2), pad=(1, 1, 1, 1),
                              fps=(4, 6, 5, 3), act=ActType.NONE)
    assert got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)
    assert len(np.unique(got)) > 20  # a real range of values, not a saturated block


@pytest.mark.parametrize("act", [ActType.RELU, ActType.LEAKYRELU, ActType.RELU6])
def test_conv_activations(act):
    # RELU6 clamps at 96 output units: 6.0 exactly at output fix position 4
    got, ref, _, _ = run_case("DPUCZDX8G/KV260", h=5, w=6, cin=16, kernel=(3, 3), stride=(1, 1),
                              pad=(1, 1, 1, 1), fps=(5, 7, 6, 4), act=act, seed=int(act))
    np.testing.assert_array_equal(got, ref)
    if act == ActType.RELU6:
        assert got.max() == 96 and got.min() == 0


def test_conv_relu6_is_96_output_units_not_6_0():
    # at output fix position 2, the DPU's relu6 clamps at 96 units (24.0), not at 6.0 (the docs rule)
    got, _, _, _ = run_case("DPUCZDX8G/KV260", h=5, w=6, cin=16, kernel=(3, 3), stride=(1, 1),
                            pad=(1, 1, 1, 1), fps=(5, 7, 6, 2), act=ActType.RELU6, seed=3)
    relu, _, _, _ = run_case("DPUCZDX8G/KV260", h=5, w=6, cin=16, kernel=(3, 3), stride=(1, 1),
                             pad=(1, 1, 1, 1), fps=(5, 7, 6, 2), act=ActType.RELU, seed=3)
    np.testing.assert_array_equal(got, np.minimum(relu, 96))
    assert (relu > 96).any()


def test_conv_negative_shift_bias():
    # bias fix position above i + w: shift_bias = -3, the accumulator is aligned to the bias exactly
    got, ref, stream, _ = run_case("DPUCZDX8G/B512", h=4, w=5, cin=8, kernel=(3, 3), stride=(1, 1),
                                   pad=(1, 1, 1, 1), fps=(3, 4, 10, 2), act=ActType.LEAKYRELU)
    assert any(i.kind == "CONVINIT" and i["shift_bias"] == -3 for i in stream)
    np.testing.assert_array_equal(got, ref)


def test_conv_sweeps_wrap_around_the_lane_block():
    # row 0 in lane 6 of 8 with stride 2: tile rows fill lanes 6, 7, then sweep 1 lanes 0, 1
    got, ref, stream, _ = run_case("DPUCZDX8G/KV260", h=7, w=9, cin=16, kernel=(3, 3), stride=(2, 2),
                                   pad=(1, 1, 1, 1), fps=(4, 6, 5, 3), act=ActType.NONE, first_lane=6)
    loads = [i for i in stream if i.kind == "LOAD" and i["reg_id"] == IN_REG]
    assert {i["bank_id"] for i in loads} == {6, 7, 0, 1} and {i["bank_addr"] for i in loads} >= {40, 300}
    np.testing.assert_array_equal(got, ref)


def test_conv_stride_out_interleaves_output_rows():
    got, ref, stream, _ = run_case("DPUCZDX8G/KV260", h=6, w=4, cin=16, kernel=(1, 1), stride=(1, 1),
                                   pad=(0, 0, 0, 0), fps=(4, 6, 5, 3), act=ActType.RELU, stride_out=2,
                                   offset_out=1)
    saves = [i for i in stream if i.kind == "SAVE"]
    assert [s["bank_id"] for s in saves] == [8, 9, 9, 10, 10, 11]
    np.testing.assert_array_equal(got, ref)


def test_conv_1x1_many_groups_uses_chunked_exact_sum():
    # 1x1 conv over 80 input channels (5 groups of 16) and a 5x5 kernel over 48 (K = 1200 > 1024)
    got, ref, _, _ = run_case("DPUCZDX8G/KV260", h=3, w=4, cin=80, kernel=(1, 1), stride=(1, 1),
                              pad=(0, 0, 0, 0), fps=(4, 6, 5, 8), act=ActType.NONE)
    np.testing.assert_array_equal(got, ref)
    got, ref, _, _ = run_case("DPUCZDX8G/KV260", h=5, w=5, cin=48, kernel=(5, 5), stride=(1, 1),
                              pad=(2, 2, 2, 2), fps=(7, 7, 5, 6), act=ActType.NONE, w_addr=100, b_addr=0)
    np.testing.assert_array_equal(got, ref)


def test_conv_from_encoded_bytes_isa1x():
    t = load_target("DPUCADF8H/U250")
    rng = np.random.default_rng(5)
    got, ref, stream, m = run_case("DPUCADF8H/U250", h=5, w=6, cin=16, kernel=(3, 3), stride=(1, 1),
                                   pad=(1, 1, 1, 1), fps=(4, 6, 5, 3), act=ActType.RELU)
    m.set_reg(OUT_REG, np.zeros(5 * 6 * t.ocp, np.int8))
    fill_garbage(m, rng)
    m.run(encode(stream, "ISA1X"))
    np.testing.assert_array_equal(np.asarray(m.get_reg(OUT_REG)).reshape(ref.shape), ref)
