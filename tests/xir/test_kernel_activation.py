"""Golden tests of the exact nonlinearities and the standalone activation kernels."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xir.kernels import (
    activation_fix,
    apply_nonlinear,
    hsigmoid_fix,
    hswish_fix,
    leaky_relu_fix,
    output_fix,
    relu6_fix,
    relu_fix,
)
from test_kernel_refs import MODES, NONLINEAR_NAMES, pow2, rand_int, ref_nonlinear, ref_out


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-(2**30), 2**30), min_size=1, max_size=12),
    st.integers(-6, 24),
    st.sampled_from(NONLINEAR_NAMES),
)
def test_apply_nonlinear_is_exact(values, scale_exp, nonlinear):
    n2, e2 = apply_nonlinear(np.array(values, dtype=np.int64), scale_exp, nonlinear)
    assert n2.dtype == np.int64
    for v, r in zip(values, n2.tolist()):
        assert Fraction(r) * pow2(-e2) == ref_nonlinear(Fraction(v) * pow2(-scale_exp), nonlinear)


@pytest.mark.parametrize("nonlinear,expected_exp", [
    ("NONE", lambda e: e), ("RELU", lambda e: e), ("RELU6", lambda e: max(e, 0)),
    ("LEAKYRELU", lambda e: e + 8), ("HSIGMOID", lambda e: max(e, 0) + 14),
    ("HSWISH", lambda e: max(e, 0) + 7),
])
def test_apply_nonlinear_result_scale(nonlinear, expected_exp):
    for e in (-3, 0, 5):
        assert apply_nonlinear(np.array([1, -2]), e, nonlinear)[1] == expected_exp(e)


CASES = [
    # (fp_in, fp_out, bit_width)
    (4, 4, 8), (6, 3, 8), (2, 5, 8), (-2, -1, 8), (3, 1, 4), (10, 9, 16), (7, 7, 8),
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("nonlinear", NONLINEAR_NAMES)
@pytest.mark.parametrize("mode", MODES)
def test_activation_fix_golden(case, nonlinear, mode):
    fp_in, fp_out, bw = CASES[case]
    x = rand_int(np.random.default_rng(case), (1, 3, 4, 5), bw)
    got = activation_fix(x, fp_in=fp_in, fp_out=fp_out, nonlinear=nonlinear, bit_width=bw,
                         round_mode=mode)
    want = np.vectorize(
        lambda q: ref_out(Fraction(int(q)) * pow2(-fp_in), nonlinear, fp_out, bw, mode)
    )(x)
    assert got.dtype == (np.int8 if bw <= 8 else np.int16)
    assert np.array_equal(got, want)


def test_named_wrappers_match_activation_fix():
    x = rand_int(np.random.default_rng(9), (2, 3, 3, 4))
    for fn, name in ((relu_fix, "RELU"), (relu6_fix, "RELU6"), (leaky_relu_fix, "LEAKYRELU"),
                     (hsigmoid_fix, "HSIGMOID"), (hswish_fix, "HSWISH")):
        got = fn(x, fp_in=5, fp_out=6, round_mode="STD_ROUND")
        assert np.array_equal(
            got, activation_fix(x, fp_in=5, fp_out=6, nonlinear=name, round_mode="STD_ROUND"))


def test_hardware_approximation_values():
    # leaky slope 26/256: -1 at fp 0 -> -26 at fp 8 (16-bit output)
    assert leaky_relu_fix(np.array([-1, 1]), fp_in=0, fp_out=8, bit_width=16).tolist() == [-26, 256]
    # hsigmoid(0) = 3*2731/16384 = 0.50006 -> fp 14 exactly 8193
    assert hsigmoid_fix(np.array([0]), fp_in=0, fp_out=14, bit_width=16).tolist() == [8193]
    # hsigmoid(3) = 1.000122 -> 128.0156 at fp 7 -> rounds to 128, saturates to 127 in 8 bits
    assert hsigmoid_fix(np.array([3]), fp_in=0, fp_out=7).tolist() == [127]
    # hswish gate is 127/128 for large inputs: 4 * 127/128 at fp 7 = 508 (16-bit output)
    assert hswish_fix(np.array([4]), fp_in=0, fp_out=7, bit_width=16).tolist() == [508]
    # relu6 clips at 6
    assert relu6_fix(np.array([100, -3]), fp_in=2, fp_out=4).tolist() == [96, 0]


@pytest.mark.parametrize("mode,expected", [
    ("DPU_ROUND", [2, -1, 1, 0]), ("STD_ROUND", [2, -2, 1, -1]), ("PY3_ROUND", [2, -2, 0, 0])])
def test_output_fix_ties(mode, expected):
    # values 1.5, -1.5, 0.5, -0.5 at scale 2^-1
    got = output_fix(np.array([3, -3, 1, -1]), 1, fp_out=0, round_mode=mode)
    assert got.tolist() == expected


def test_activation_validation():
    with pytest.raises(ValueError, match="unknown nonlinear 'GELU'"):
        activation_fix(np.array([1]), fp_in=0, fp_out=0, nonlinear="GELU")
    with pytest.raises(ValueError, match="integer"):
        relu_fix(np.array([1.0]), fp_in=0, fp_out=0)
