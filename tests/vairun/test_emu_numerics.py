"""The fast finishing path (vairun.emu.fast.finish.FastFinish) is the same function of (accumulator,
bias, shifts, activation) as the reference (add_bias + xir output_fix): random values, every rounding
tie, both saturation edges, all its routes (float32, float64, int64, and Int32Finish on the int32
accumulators of the integer GEMM), and it refuses exactly where the reference could raise."""

import numpy as np
import pytest

from vairun.emu.faults import EmulatorFault
from vairun.emu.fast.finish import F32_EXACT_TERMS, INT32_MAX, FastFinish, fast_finish, int32_finish
from vairun.emu.numerics import finish, finish_biased
from xir.isa import ActType

ACTS = [ActType.NONE, ActType.RELU, ActType.LEAKYRELU, ActType.RELU6]
K_BOUND = F32_EXACT_TERMS << 14


def _accumulators(rng, ff: FastFinish, bound: int, bias: np.ndarray, cols: int) -> np.ndarray:
    """Random accumulators plus, for every column, values whose exact result is a rounding tie or
    lies at the saturation edges (+-0.5 around -128.5, 127.5, 96.5, 0)."""
    rows = [rng.integers(-bound, bound + 1, size=(64, cols)), np.full((1, cols), bound),
            np.full((1, cols), -bound), np.zeros((1, cols), np.int64)]
    # n = acc * 2**a + bias * 2**b; pick target values v (output units) and solve acc = (v * 2**e -
    # bias * 2**b) / 2**a where it is an integer within the bound
    targets = np.array([-129.5, -128.5, -128, -127.5, -0.5, 0, 0.5, 1.5, 2.5, 95.5, 96, 96.5, 126.5, 127.5,
                        128.5, -3.5, -2.5, -1.5])
    for v in targets:
        if ff.act == ActType.LEAKYRELU and v < 0:
            v = v * 256 / 26
        num = np.round(v * 2.0 ** ff.e) - np.left_shift(bias.astype(np.int64), ff.b)
        acc = np.floor_divide(num.astype(np.int64), 1 << ff.a)
        for delta in (-1, 0, 1):
            rows.append(np.clip(acc + delta, -bound, bound).reshape(1, cols))
    if ff.act == ActType.LEAKYRELU and ff.a == 0:
        # negative ties of LEAKYRELU: n * 26 = (2j + 1) * 2**(k-1) with k = e + 8
        k = ff.e + 8
        if k >= 2:
            n0 = ((1 << (k - 2)) * pow(13, -1, 1 << (k - 1))) % (1 << (k - 1))
            for j in range(1, 6):
                n = n0 - j * (1 << (k - 1))
                acc = n - np.left_shift(bias.astype(np.int64), ff.b)
                assert np.all((n * 26) % (1 << k) == 1 << (k - 1))
                rows.append(np.clip(acc, -bound, bound).reshape(1, cols))
    return np.concatenate(rows).astype(np.int64)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shifts", [(0, 7), (2, 8), (5, 1), (-3, 6), (-6, 0), (0, 0), (3, 0), (10, 20),
                                    (31, 12), (0, 39), (-20, 8), (4, 30)])
@pytest.mark.parametrize("terms", [1, 9, 147, 576, 1024, 4608, 36864])
def test_fast_finish_equals_reference(act, shifts, terms):
    shift_bias, shift_cut = shifts
    bound = terms << 14
    ff = fast_finish(bound, shift_bias, shift_cut, act)
    assert ff is not None
    rng = np.random.default_rng(terms * 131 + shift_cut * 7 + shift_bias + 40 + int(act))
    cols = 6
    bias = rng.integers(-128, 128, size=cols)
    bias[:2] = (-128, 127)
    acc = _accumulators(rng, ff, bound, bias, cols)
    ref = finish_biased(acc.astype(np.float64), bias[None, :], acc.shape[0], shift_bias, shift_cut, act)
    np.testing.assert_array_equal(ff.apply(acc.astype(np.float64), bias), ref)
    np.testing.assert_array_equal(ff.apply(acc, bias), ref)
    if ff.is_float:
        # the matmul form: accumulator times acc_scale (as a matmul with scaled weights gives it),
        # plus the column offsets
        t = (acc.astype(np.float64) * ff.acc_scale).astype(ff.dtype) + ff.offsets(bias)
        np.testing.assert_array_equal(ff.finish_scaled(t), ref)
    i32 = int32_finish(ff, bound)
    if i32 is not None:
        # in place on int32 accumulators, into a contiguous result and into a strided (transposed) one
        out = np.empty(acc.shape, np.int8)
        i32.apply(acc.astype(np.int32), i32.offsets(bias)[None, :], out)
        np.testing.assert_array_equal(out, ref)
        out_t = np.empty(acc.shape[::-1], np.int8).T
        i32.apply(acc.astype(np.int32), i32.offsets(bias)[None, :], out_t)
        np.testing.assert_array_equal(out_t, ref)


def test_int32_route_exists_exactly_where_no_intermediate_reaches_2_31():
    # a 3x3 conv over 512 channels: acc < 4608 * 2**14, shift_bias 2, shift_cut 9
    assert int32_finish(fast_finish(4608 << 14, 2, 9, ActType.RELU), 4608 << 14) is not None
    assert int32_finish(fast_finish(K_BOUND, 2, 7, ActType.LEAKYRELU), K_BOUND) is None   # int64 only
    # a negative scale shifts left: (bound + 128) << 3 must stay below 2**31
    wide = (INT32_MAX >> 3) - 128
    assert int32_finish(fast_finish(wide, 0, -3, ActType.NONE), wide) is not None
    assert int32_finish(fast_finish(wide + 1, 0, -3, ActType.NONE), wide + 1) is None
    # a negative shift_bias shifts the accumulator left by 4
    assert int32_finish(fast_finish(1 << 27, -4, 6, ActType.NONE), 1 << 27) is None
    assert int32_finish(fast_finish(1 << 20, -4, 6, ActType.NONE), 1 << 20) is not None
    assert int32_finish(None, 10) is None


def test_routes_are_chosen_by_the_exact_bounds():
    assert fast_finish(K_BOUND >> 2, 2, 7, ActType.RELU).dtype == np.float32
    assert fast_finish(K_BOUND, 2, 7, ActType.RELU).dtype == np.float64      # 2**24 + 2**6: over float32
    assert fast_finish(4608 << 14, 31, 12, ActType.NONE).dtype == np.float64
    assert fast_finish(K_BOUND, 2, 7, ActType.LEAKYRELU).dtype is None      # LEAKYRELU: int64
    assert fast_finish(1 << 53, 0, 5, ActType.NONE).dtype is None            # too wide for float64


@pytest.mark.parametrize("args", [
    (K_BOUND, 0, 41, ActType.NONE),          # scale beyond the fast range (the reference still works)
    (K_BOUND, -32, 20, ActType.RELU),         # e = 52
    (1 << 40, -30, 0, ActType.NONE),          # accumulator shifted left by 30 would leave int64
    (K_BOUND, 0, 5, ActType.PRELU),           # not a finish() activation
    (K_BOUND, 0, 5, ActType.HSIGMOID),
])
def test_fast_finish_refuses_where_the_reference_could_raise(args):
    assert fast_finish(*args) is None


def test_reference_faults_that_the_fast_path_must_not_hide():
    # e = 63 + 32 is outside round_shift's range: the reference faults, and fast_finish refuses
    acc = np.zeros((2, 3))
    with pytest.raises(EmulatorFault):
        finish_biased(acc, np.zeros((1, 3), np.int64), 2, -32, 63, ActType.NONE)
    assert fast_finish(0, -32, 63, ActType.NONE) is None


@pytest.mark.parametrize("act", ACTS)
def test_fast_finish_without_bias_equals_finish(act):
    # pooling and eltwise: v = acc / 2**e, no bias
    rng = np.random.default_rng(int(act))
    for bound, e in ((128, 0), (128 * 9 * 7, 6), (256 << 15, 19), (3 << 9, -2)):
        ff = fast_finish(bound, None, e, act)
        acc = np.concatenate([rng.integers(-bound, bound + 1, 500), [bound, -bound, 0],
                              (np.arange(-300, 300) << max(e, 0)) + ((1 << (e - 1)) if e > 0 else 0)])
        acc = np.clip(acc, -bound, bound)
        np.testing.assert_array_equal(ff.apply(acc), finish(acc, e, act))
    # max pooling hands over its int8 window maxima as they are
    ff = fast_finish(128, None, 0, act)
    q = np.arange(-128, 128, dtype=np.int8)
    np.testing.assert_array_equal(ff.apply(q), finish(q.astype(np.int64), 0, act))


def test_int64_route_for_values_too_wide_for_float64():
    bound = 1 << 53
    rng = np.random.default_rng(9)
    for act in ACTS:
        ff = fast_finish(bound, 0, 5, act)
        assert ff.dtype is None
        acc = np.concatenate([rng.integers(-bound, bound + 1, 300), [bound, -bound, 16, -16, 48, 4063, -4080]])
        bias = rng.integers(-128, 128, size=(acc.size, 1))
        ref = finish_biased(acc.reshape(-1, 1), bias, 1, 0, 5, act)
        np.testing.assert_array_equal(ff.apply(acc.reshape(-1, 1), bias), ref)
