"""DWINIT/DPTWISE on the emulator equal depthwise_conv2d_fix bit for bit (ISA1 and ISA1X targets; the
DPUCADF8H depthwise bank is 64 bytes wide and its biases live in the weights group)."""

import numpy as np
import pytest

from emu_support import load_bytes, rand_q, run_block
from xir.isa import ActType, make
from xir.kernels import depthwise_conv2d_fix
from xir.target import load_target


def dw_case(target_name, *, c, h, w, stride, pad, fps, act, seed=0):
    t = load_target(target_name)
    rng = np.random.default_rng(seed)
    fp_in, fp_w, fp_b, fp_out = fps
    groups = -(-c // t.icp)
    rows = (h + pad[2] + pad[3] - 3) // stride + 1
    length = (w + pad[0] + pad[1] - 3) // stride + 1
    x = rand_q(rng, (2, h, w, c))
    wq = rand_q(rng, (1, 3, 3, c))
    bq = rand_q(rng, (c,))
    wbytes = rng.integers(-128, 128, size=(9, groups * t.icp))  # junk in the masked channels
    wbytes[:, :c] = wq[0].reshape(9, c)
    bbytes = np.zeros(groups * t.icp, np.int64)
    bbytes[:c] = bq
    init = make("DWINIT", kernel_h=3, kernel_w=3, stride_h=stride, stride_w=stride, act_type=int(act),
                shift_cut=fp_in + fp_w - fp_out, shift_bias=fp_in + fp_w - fp_b, jump_read=groups,
                jump_read_endl=w * groups, jump_write=groups, jump_write_endl=length * groups)
    op = make("DPTWISE", bank_id_in=t.image_groups[1].first_id + 3, bank_addr_in=64, bank_addr_in_1=1000,
              pad_top=pad[2], pad_bottom=pad[3], pad_left=pad[0], pad_right=pad[1], channel_group=groups,
              length=length, valid_pixel_parallel=rows, bank_id_out=t.image_groups[0].first_id,
              bank_addr_out=7, bank_addr_weights=11, bank_addr_bias=900, channel_offset=groups * t.icp - c)
    loads = [load_bytes(t.dwweights_group.first_id, 11, offset=0, nbytes=wbytes.size),
             load_bytes(t.bias_group.first_id, 900, offset=wbytes.size, nbytes=bbytes.size)]
    params = np.concatenate([wbytes.ravel(), bbytes])
    got = run_block(t, init, op, x, engine="MISC", extra_loads=loads, params=params)[..., :c]
    ref = depthwise_conv2d_fix(x, wq, bq, fp_in=fp_in, fp_w=fp_w, fp_b=fp_b, fp_out=fp_out,
                               stride=(stride, stride), pad=pad, nonlinear=act.name)
    return got, ref


@pytest.mark.parametrize("target_name", ["DPUCZDX8G/KV260", "DPUCZDX8G/B512", "DPUCADF8H/U250"])
def test_dptwise_3x3_relu6_masked_tail(target_name):
    t = load_target(target_name)
    got, ref = dw_case(target_name, c=t.icp + 5, h=min(6, t.pp), w=7, stride=1, pad=(1, 1, 1, 1), fps=(5, 6, 6, 4),
                       act=ActType.RELU6)
    np.testing.assert_array_equal(got, ref)
    assert got.max() == 96


def test_dptwise_stride2_negative_shift_bias_leaky():
    got, ref = dw_case("DPUCZDX8G/KV260", c=16, h=7, w=8, stride=2, pad=(1, 0, 1, 1), fps=(3, 5, 10, 4),
                       act=ActType.LEAKYRELU, seed=3)
    np.testing.assert_array_equal(got, ref)
