"""Golden tests of xir.fixpoint against exact rationals."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xir import fixpoint as fx
from test_kernel_refs import MODES, pow2, ref_clamp, ref_factor_shift, ref_round

# ---- rounding of floats ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode,expected",
    [
        ("DPU_ROUND", [3, -2, 1, 0, 2, -1, 0, 0, 4, -4]),
        ("STD_ROUND", [3, -3, 1, -1, 2, -2, 0, 0, 4, -4]),
        ("PY3_ROUND", [2, -2, 0, 0, 2, -2, 0, 0, 4, -4]),
    ],
)
def test_round_half_ties(mode, expected):
    x = [2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 0.49999999999999994, -0.49999999999999994, 3.7, -3.7]
    got = fx.round_half(np.array(x), mode)
    assert got.dtype == np.float64
    assert np.array_equal(got, np.array(expected, dtype=np.float64))


def test_round_half_no_negative_zero():
    got = fx.round_half(np.array([-0.4, -0.5]), "DPU_ROUND")
    assert not np.signbit(got).any()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
            st.integers(-(10**6), 10**6).map(lambda k: k + 0.5),
            st.floats(min_value=-(2.0**60), max_value=2.0**60, allow_nan=False),
        ),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from(MODES),
)
def test_round_half_matches_rational_rounding(values, mode):
    got = fx.round_half(np.array(values), mode)
    want = [ref_round(Fraction(v), mode) for v in values]
    assert [int(g) for g in got] == want


def test_unknown_round_mode_names_valid_ones():
    with pytest.raises(ValueError, match="DPU_ROUND, STD_ROUND, PY3_ROUND"):
        fx.round_half(np.array([1.0]), "HALF_UP")
    with pytest.raises(ValueError, match="DPU_ROUND"):
        fx.round_shift(np.array([1]), 1, "FLOOR")
    with pytest.raises(ValueError, match="PY3_ROUND"):
        fx.quantize(np.array([1.0]), 0, round_mode="nearest")


# ---- ranges and dtypes -------------------------------------------------------------------------


def test_qrange_and_int_dtype():
    assert fx.qrange(8) == (-128, 127)
    assert fx.qrange(8, signed=False) == (0, 255)
    assert fx.qrange(4) == (-8, 7)
    assert fx.qrange(16) == (-32768, 32767)
    assert fx.qrange(2) == (-2, 1)
    assert fx.int_dtype(8) is np.int8
    assert fx.int_dtype(4, signed=False) is np.uint8
    assert fx.int_dtype(9) is np.int16
    assert fx.int_dtype(16, signed=False) is np.uint16
    for bad in (1, 17, 32):
        with pytest.raises(ValueError, match="between 2 and 16"):
            fx.qrange(bad)
        with pytest.raises(ValueError, match="between 2 and 16"):
            fx.int_dtype(bad)


# ---- quantize / dequantize -----------------------------------------------------------------


@pytest.mark.parametrize("fix_pos", [-3, 0, 4, 7, 12])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bit_width,signed", [(8, True), (4, True), (16, True), (8, False)])
def test_quantize_matches_rationals(fix_pos, mode, bit_width, signed):
    rng = np.random.default_rng(fix_pos + 100 * bit_width)
    lo, hi = fx.qrange(bit_width, signed)
    # values around the whole range, half of them exactly on a .5 tie
    q = rng.integers(lo - 8, hi + 8, size=200)
    ties = ldexp_exact(q + 0.5, -fix_pos)
    noise = ldexp_exact(q + rng.uniform(-1, 1, size=200), -fix_pos)
    x = np.concatenate([ties, noise])
    got = fx.quantize(x, fix_pos, bit_width, mode, signed)
    assert got.dtype == fx.int_dtype(bit_width, signed)
    want = [ref_clamp(ref_round(Fraction(v) * pow2(fix_pos), mode), bit_width, signed) for v in x]
    assert got.tolist() == want


def ldexp_exact(a, e):
    return np.ldexp(np.asarray(a, dtype=np.float64), e)


def test_quantize_saturates_both_ends_and_inf():
    x = np.array([1e9, -1e9, np.inf, -np.inf, 127.49, -128.5, 127.5])
    assert fx.quantize(x, 0).tolist() == [127, -128, 127, -128, 127, -128, 127]
    assert fx.quantize(x, 0, bit_width=4).tolist() == [7, -8, 7, -8, 7, -8, 7]
    assert fx.quantize(x, 0, bit_width=16).tolist() == [32767, -32768, 32767, -32768, 127, -128,
                                                         128]


def test_quantize_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        fx.quantize(np.array([0.0, np.nan]), 3)


def test_quantize_float32_input_is_exact():
    x = np.array([0.1, -0.3, 1.0 / 3.0], dtype=np.float32)
    got = fx.quantize(x, 10, bit_width=16)
    want = [ref_round(Fraction(float(v)) * 1024, "DPU_ROUND") for v in x]
    assert got.tolist() == want


def test_dequantize_and_fake_quantize():
    q = np.array([-128, -1, 0, 1, 127], dtype=np.int8)
    assert np.array_equal(fx.dequantize(q, 3), np.array([-16, -0.125, 0, 0.125, 15.875],
                                                        dtype=np.float32))
    assert fx.dequantize(q, 3).dtype == np.float32
    assert np.array_equal(fx.dequantize(q, -2, np.float64), q.astype(np.float64) * 4)
    x = np.array([0.3, -0.3, 100.0, 0.0625], dtype=np.float32)
    fq = fx.fake_quantize(x, 4)
    assert fq.dtype == np.float32
    assert fq.tolist() == [0.3125, -0.3125, 7.9375, 0.0625]
    assert fx.fake_quantize(x.astype(np.float64), 4).dtype == np.float64


# ---- integer rounding --------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.integers(-(2**62) + 1, 2**62 - 1), min_size=1, max_size=16),
    st.integers(1, 62),
    st.sampled_from(MODES),
)
def test_round_shift_right_matches_rationals(values, shift, mode):
    got = fx.round_shift(np.array(values, dtype=np.int64), shift, mode)
    assert got.dtype == np.int64
    assert got.tolist() == [ref_round(Fraction(v, 2**shift), mode) for v in values]


@pytest.mark.parametrize("mode", MODES)
def test_round_shift_all_ties_small(mode):
    n = np.arange(-64, 65, dtype=np.int64)
    for shift in range(1, 5):
        got = fx.round_shift(n, shift, mode)
        assert got.tolist() == [ref_round(Fraction(int(v), 2**shift), mode) for v in n]


def test_round_shift_left_and_zero_are_exact():
    n = np.array([-5, 0, 3, 2**40], dtype=np.int64)
    assert fx.round_shift(n, 0).tolist() == n.tolist()
    assert fx.round_shift(n, -3).tolist() == [v * 8 for v in n.tolist()]
    with pytest.raises(OverflowError):
        fx.round_shift(np.array([2**60]), -4)
    with pytest.raises(ValueError, match="shift must lie"):
        fx.round_shift(n, 63)


def test_round_shift_array_shift_broadcasts():
    n = np.array([[5], [-5]], dtype=np.int64)
    s = np.array([-1, 0, 1, 2])
    got = fx.round_shift(n, s, "STD_ROUND")
    want = [[ref_round(Fraction(v) / pow2(k), "STD_ROUND") for k in s] for v in (5, -5)]
    assert got.tolist() == want


def test_round_shift_rejects_floats():
    with pytest.raises(ValueError, match="integers"):
        fx.round_shift(np.array([1.5]), 1)


def test_saturate_and_requantize():
    n = np.array([-1000, -129, -128, 0, 127, 128, 1000])
    assert fx.saturate(n).tolist() == [-128, -128, -128, 0, 127, 127, 127]
    assert fx.saturate(n).dtype == np.int8
    assert fx.saturate(n, 4).tolist() == [-8, -8, -8, 0, 7, 7, 7]
    assert fx.saturate(n, 8, signed=False).tolist() == [0, 0, 0, 0, 127, 128, 255]
    assert fx.saturate(n, 16).dtype == np.int16
    # value n * 2^-6 to fix position 2: round(n / 16)
    m = np.array([8, -8, 24, -24, 2047, -2056, 5000], dtype=np.int64)
    for mode in MODES:
        got = fx.requantize(m, 6, 2, 8, mode)
        want = [ref_clamp(ref_round(Fraction(int(v), 16), mode), 8) for v in m]
        assert got.tolist() == want
    # coarser to finer: exact left shift
    assert fx.requantize(np.array([3, -3]), 1, 4).tolist() == [24, -24]


def test_constants():
    assert (fx.LEAKY_RELU_NUM, fx.LEAKY_RELU_SHIFT) == (26, 8)
    assert (fx.HSIGMOID_NUM, fx.HSIGMOID_SHIFT) == (2731, 14)
    assert fx.HSWISH_GATE_FIX_POS == 7
    assert fx.MAX_FIX_POS_8BIT == 12


# ---- average pool factor -----------------------------------------------------------------------


def test_avgpool_table():
    assert fx.avgpool_factor_shift(3, 3) == (7, 6)
    assert fx.avgpool_factor_shift(5, 5) == (10, 8)
    assert fx.avgpool_factor_shift(6, 6) == (7, 8)
    assert fx.avgpool_factor_shift(7, 7) == (21, 10)
    assert fx.avgpool_factor_shift(14, 14) == (21, 12)


def test_avgpool_every_small_kernel_matches_rule_and_fits_8_bits():
    for kh in range(1, 17):
        for kw in range(1, 17):
            factor, shift = fx.avgpool_factor_shift(kh, kw)
            assert (factor, shift) == ref_factor_shift(kh, kw), (kh, kw)
            assert 1 <= factor <= 255
            n = kh * kw
            if n & (n - 1) == 0:
                assert (factor, shift) == (1, n.bit_length() - 1)


@pytest.mark.parametrize("size", [8, 10, 13, 28, 56, 112, 224, 256])
def test_avgpool_global_pools_fit_8_bits(size):
    factor, shift = fx.avgpool_factor_shift(size, size)
    assert (factor, shift) == ref_factor_shift(size, size)
    assert 1 <= factor <= 128
    n = size * size
    # closest pair: error at most half a step of the finest shift tried
    assert abs(Fraction(factor, 2**shift) - Fraction(1, n)) <= Fraction(1, 2 ** (shift + 1))


def test_avgpool_rejects_empty_kernel():
    with pytest.raises(ValueError, match="at least 1x1"):
        fx.avgpool_factor_shift(0, 3)


# ---- shift constraints -------------------------------------------------------------------------


def test_conv_shift_checks():
    assert fx.shift_cut_range() == (0, 16)
    assert fx.shift_bias_range(0) == (-16, 16)
    assert fx.shift_bias_range(10) == (-6, 16)
    assert fx.shift_bias_range(16) == (0, 16)
    assert fx.check_conv_shifts(4, 7, 6, 5) == []
    assert fx.check_conv_shifts(4, 7, None, 5) == []
    low = fx.check_conv_shifts(2, 3, 5, 6)
    assert len(low) == 1 and "shift_cut" in low[0] and "-1" in low[0]
    high = fx.check_conv_shifts(10, 10, 3, 3)
    assert any("shift_cut" in p for p in high) and any("shift_bias" in p for p in high)
    # shift_cut 10 -> shift_bias lower bound -6: fp_b = i + w + 7 is too fine
    bias = fx.check_conv_shifts(6, 6, 19, 2)
    assert len(bias) == 1 and "shift_bias" in bias[0] and "-7" in bias[0]
    assert fx.check_conv_shifts(6, 6, 18, 2) == []


def test_eltwise_and_other_checks():
    assert fx.shift_read_range() == (0, 7)
    assert fx.shift_write_range() == (-7, 25)
    assert fx.eltwise_mul_shift_range() == (0, 32)
    assert fx.check_eltwise_add_shifts([5, 3], 4) == []
    read = fx.check_eltwise_add_shifts([1, 9], 0)
    assert len(read) == 1 and "shift_read" in read[0]
    write = fx.check_eltwise_add_shifts([2, 3], 10)
    assert len(write) == 1 and "shift_write" in write[0]
    assert fx.check_eltwise_mul_shifts([6, 6], 4) == []
    assert "eltwise mul" in fx.check_eltwise_mul_shifts([3, 3], 7)[0]
    assert fx.check_eltwise_mul_shifts([20, 20], 7) != []
    assert fx.check_hsigmoid_shifts(4, 7) == []
    assert len(fx.check_hsigmoid_shifts(16, 6)) == 2
    assert fx.hsigmoid_fp_in_range() == (0, 15) and fx.hsigmoid_fp_out_min() == 7
    assert fx.check_concat_fix([3, 3, 3], 3) == []
    msg = fx.check_concat_fix([3, 4, 3], 3)
    assert len(msg) == 1 and "input 1 has 4" in msg[0]
    assert fx.check_same_fix(2, 2, "maxpool") == []
    assert "maxpool" in fx.check_same_fix(2, 3, "maxpool")[0]
