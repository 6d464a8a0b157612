"""ALUINIT/ALU on the emulator: MAXPOOL, AVGPOOL and DWCONV windows with every activation, against the
reference kernels (PRELU, which has no reference kernel, against an exact rational computation)."""

from fractions import Fraction

import numpy as np
import pytest

from emu_support import load_bytes, rand_q, run_block
from xir import fixpoint
from xir.isa import ActType, AluType, make
from xir.kernels import activation_fix, avgpool_fix, depthwise_conv2d_fix, maxpool_fix
from xir.target import load_target

KV260 = "DPUCZDX8G/KV260"


def alu_ops(t, *, alu_type, act, kernel, stride, pad, rows, length, groups, w, shift_cut=0, shift_bias=0,
            multi_factor=0, channel_offset=0, prelu=(0, 0), hsig=(0, 0), w_addr=0, b_addr=0):
    init = make("ALUINIT", alu_type=int(alu_type), act_type=int(act), kernel_h=kernel[0], kernel_w=kernel[1],
                stride_h=stride[0], stride_w=stride[1], shift_cut=shift_cut, shift_bias=shift_bias,
                multi_factor=multi_factor, jump_read=groups, jump_read_endl=w * groups, jump_write=groups,
                jump_write_endl=length * groups, shift_prelu_p=prelu[0], shift_prelu_n=prelu[1],
                hsigmoid_in=hsig[0], hsigmoid_out=hsig[1])
    op = make("ALU", bank_id_in=t.image_groups[0].first_id, bank_addr_in=0, bank_addr_in_1=700,
              pad_top=pad[2], pad_bottom=pad[3], pad_left=pad[0], pad_right=pad[1], channel_group=groups,
              length=length, valid_pixel_parallel=rows, bank_id_out=t.image_groups[1].first_id + 2,
              bank_addr_out=33, channel_offset=channel_offset, bank_addr_weights=w_addr, bank_addr_bias=b_addr)
    return init, op


def test_alu_maxpool_relu():
    t = load_target(KV260)
    x = rand_q(np.random.default_rng(0), (1, 6, 6, 16))
    init, op = alu_ops(t, alu_type=AluType.MAXPOOL, act=ActType.RELU, kernel=(2, 2), stride=(2, 2),
                       pad=(0, 0, 0, 0), rows=3, length=3, groups=1, w=6)
    got = run_block(t, init, op, x, engine="MISC")
    ref = activation_fix(maxpool_fix(x, fp_in=2, fp_out=2, kernel=(2, 2), stride=(2, 2)), fp_in=2, fp_out=2,
                         nonlinear="RELU")
    np.testing.assert_array_equal(got, ref)


def test_alu_global_avgpool_leaky():
    t = load_target(KV260)
    x = rand_q(np.random.default_rng(1), (1, 7, 7, 32))
    factor, shift = fixpoint.avgpool_factor_shift(7, 7)
    init, op = alu_ops(t, alu_type=AluType.AVGPOOL, act=ActType.LEAKYRELU, kernel=(7, 7), stride=(7, 7),
                       pad=(0, 0, 0, 0), rows=1, length=1, groups=2, w=7, shift_cut=shift + 3 - 5,
                       multi_factor=factor)
    got = run_block(t, init, op, x, engine="MISC")
    ref = avgpool_fix(x, fp_in=3, fp_out=5, kernel=(7, 7), stride=(7, 7), nonlinear="LEAKYRELU")
    np.testing.assert_array_equal(got, ref)


def test_alu_avgpool_with_wide_padding():
    # pads beyond 15 (bottom/right, up to 255) exist only on the ALU
    t = load_target(KV260)
    x = rand_q(np.random.default_rng(7), (1, 3, 2, 16))
    factor, shift = fixpoint.avgpool_factor_shift(4, 20)
    pad = (1, 17, 1, 0)  # left, right, top, bottom
    init, op = alu_ops(t, alu_type=AluType.AVGPOOL, act=ActType.NONE, kernel=(4, 20), stride=(1, 1), pad=pad,
                       rows=1, length=1, groups=1, w=2, shift_cut=shift, multi_factor=factor)
    got = run_block(t, init, op, x, engine="MISC")
    ref = avgpool_fix(x, fp_in=4, fp_out=4, kernel=(20, 4), stride=(1, 1), pad=pad)
    np.testing.assert_array_equal(got, ref)


def test_alu_avgpool_hsigmoid():
    # x = acc / 2**shift_cut is read at fix position hsigmoid_in: shift_cut + hsigmoid_in = shift + fp_in
    t = load_target(KV260)
    x = rand_q(np.random.default_rng(2), (1, 5, 5, 16))
    factor, shift = fixpoint.avgpool_factor_shift(3, 3)
    init, op = alu_ops(t, alu_type=AluType.AVGPOOL, act=ActType.HSIGMOID, kernel=(3, 3), stride=(1, 1),
                       pad=(1, 1, 1, 1), rows=5, length=5, groups=1, w=5, shift_cut=0, multi_factor=factor,
                       hsig=(shift + 4, 7))
    got = run_block(t, init, op, x, engine="MISC")
    ref = avgpool_fix(x, fp_in=4, fp_out=7, kernel=(3, 3), stride=(1, 1), pad=(1, 1, 1, 1), nonlinear="HSIGMOID")
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("act,fp_out", [(ActType.HSWISH, 3), (ActType.RELU6, 4), (ActType.NONE, 2)])
def test_alu_dwconv(act, fp_out):
    t = load_target(KV260)
    rng = np.random.default_rng(int(act))
    c, groups = 20, 2
    fp_in, fp_w, fp_b = 4, 6, 3
    x = rand_q(rng, (1, 5, 6, c))
    wq = rand_q(rng, (1, 3, 3, c))
    bq = rand_q(rng, (c,))
    wbytes = np.zeros((9, groups * t.icp), np.int64)
    wbytes[:, :c] = wq[0].reshape(9, c)
    bbytes = np.zeros(groups * t.icp, np.int64)
    bbytes[:c] = bq
    params = np.concatenate([wbytes.ravel(), bbytes])
    if act in (ActType.HSWISH,):
        sc, hsig = 0, (fp_in + fp_w, fp_out)
    else:
        sc, hsig = fp_in + fp_w - fp_out, (0, 0)
    init, op = alu_ops(t, alu_type=AluType.DWCONV, act=act, kernel=(3, 3), stride=(1, 1), pad=(1, 1, 1, 1),
                       rows=5, length=6, groups=groups, w=6, shift_cut=sc, shift_bias=fp_in + fp_w - fp_b,
                       channel_offset=groups * t.icp - c, hsig=hsig, w_addr=3, b_addr=9)
    loads = [load_bytes(t.dwweights_group.first_id, 3, offset=0, nbytes=wbytes.size),
             load_bytes(t.bias_group.first_id, 9, offset=wbytes.size, nbytes=bbytes.size)]
    got = run_block(t, init, op, x, engine="MISC", extra_loads=loads, params=params)[..., :c]
    ref = depthwise_conv2d_fix(x, wq, bq, fp_in=fp_in, fp_w=fp_w, fp_b=fp_b, fp_out=fp_out, pad=(1, 1, 1, 1),
                               nonlinear=act.name)
    np.testing.assert_array_equal(got, ref)


def _dpu_round(v: Fraction) -> int:
    return max(-128, min(127, int(np.floor(v + Fraction(1, 2)))))


def test_alu_prelu_per_channel_slopes():
    # 1x1 MAXPOOL is the identity; PRELU: acc / 2**p where acc >= 0, acc * slope / 2**n elsewhere
    t = load_target("DPUCZDX8G/B512")
    rng = np.random.default_rng(4)
    x = rand_q(rng, (1, 3, 4, 8))
    slopes = rand_q(rng, (8,), -64, 64)
    p_shift, n_shift = 1, 7
    params = np.concatenate([np.zeros(8, np.int64), slopes])  # biases (unused), then the slopes
    init, op = alu_ops(t, alu_type=AluType.MAXPOOL, act=ActType.PRELU, kernel=(1, 1), stride=(1, 1),
                       pad=(0, 0, 0, 0), rows=3, length=4, groups=1, w=4, prelu=(p_shift, n_shift), b_addr=4)
    loads = [load_bytes(t.bias_group.first_id, 4, offset=0, nbytes=16)]
    got = run_block(t, init, op, x, engine="MISC", extra_loads=loads, params=params)
    want = np.vectorize(lambda v, s: _dpu_round(Fraction(int(v), 2 ** p_shift) if v >= 0
                                                else Fraction(int(v) * int(s), 2 ** n_shift)))(x, slopes)
    np.testing.assert_array_equal(got, want)
