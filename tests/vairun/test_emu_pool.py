"""POOLINIT/POOL on the emulator equal the reference max-pool and average-pool kernels bit for bit."""

import numpy as np
import pytest

from emu_support import rand_q, run_block
from xir import fixpoint
from xir.isa import PoolType, make
from xir.kernels import avgpool_fix, maxpool_fix
from xir.target import load_target


def pool_ops(t, *, pool_type, kernel, stride, pad, rows, length, groups, shift_cut, multi_factor=0, w=0):
    init = make("POOLINIT", pool_type=int(pool_type), kernel_h=kernel[0], kernel_w=kernel[1], stride_h=stride[0],
                stride_w=stride[1], valid_pixel_parallel=rows, shift_cut=shift_cut, jump_read=groups,
                jump_write=groups)
    op = make("POOL", bank_id_in=t.image_groups[0].first_id + 1, bank_addr_in=10, bank_addr_in_1=500,
              jump_read_endl=w * groups, pad_top=pad[2], pad_bottom=pad[3], pad_left=pad[0], pad_right=pad[1],
              channel_group=groups, length=length, bank_id_out=t.image_groups[1].first_id,
              bank_addr_out=100, jump_write_endl=length * groups, multi_factor=multi_factor)
    return init, op


@pytest.mark.parametrize("target_name", ["DPUCZDX8G/KV260", "DPUCZDX8G/B512", "DPUCADF8H/U250"])
def test_maxpool_3x3_stride2_pad1(target_name):
    t = load_target(target_name)
    rng = np.random.default_rng(1)
    c = t.icp + 3
    groups = -(-c // t.icp)
    x = rand_q(rng, (1, 7, 9, c))
    init, op = pool_ops(t, pool_type=PoolType.MAX, kernel=(3, 3), stride=(2, 2), pad=(1, 1, 1, 1), rows=4,
                        length=5, groups=groups, shift_cut=0, w=9)
    got = run_block(t, init, op, x, engine="MISC")
    ref = maxpool_fix(x, fp_in=3, fp_out=3, kernel=(3, 3), stride=(2, 2), pad=(1, 1, 1, 1))
    np.testing.assert_array_equal(got, ref)


def test_maxpool_padding_reads_minus_128():
    # an all-negative image: zero padding would win the window maximum, -128 padding never does
    t = load_target("DPUCZDX8G/B512")
    rng = np.random.default_rng(2)
    x = rand_q(rng, (1, 4, 4, 8), -100, -1)
    init, op = pool_ops(t, pool_type=PoolType.MAX, kernel=(2, 2), stride=(2, 2), pad=(1, 1, 1, 1), rows=3,
                        length=3, groups=1, shift_cut=0, w=4)
    got = run_block(t, init, op, x, engine="MISC")
    ref = maxpool_fix(x, fp_in=0, fp_out=0, kernel=(2, 2), stride=(2, 2), pad=(1, 1, 1, 1))
    np.testing.assert_array_equal(got, ref)
    assert got.max() < 0


@pytest.mark.parametrize("kernel,fp_in,fp_out", [((3, 3), 4, 4), ((2, 2), 5, 3), ((5, 5), 2, 2)])
def test_avgpool_factor_and_shift(kernel, fp_in, fp_out):
    t = load_target("DPUCZDX8G/KV260")
    rng = np.random.default_rng(kernel[0])
    pad = (kernel[0] // 2,) * 4
    h, w = 6, 7
    x = rand_q(rng, (1, h, w, 16))
    factor, shift = fixpoint.avgpool_factor_shift(*kernel)
    rows = h + 2 * pad[2] - kernel[0] + 1
    length = w + 2 * pad[0] - kernel[1] + 1
    init, op = pool_ops(t, pool_type=PoolType.AVG, kernel=kernel, stride=(1, 1), pad=pad, rows=rows,
                        length=length, groups=1, shift_cut=shift + fp_in - fp_out, multi_factor=factor, w=w)
    got = run_block(t, init, op, x, engine="MISC")
    ref = avgpool_fix(x, fp_in=fp_in, fp_out=fp_out, kernel=kernel, stride=(1, 1), pad=pad)
    np.testing.assert_array_equal(got, ref)
