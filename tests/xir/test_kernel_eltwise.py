"""Golden tests of eltwise add / mul against exact rationals."""

from fractions import Fraction

import numpy as np
import pytest

from xir.kernels import eltwise_add_fix, eltwise_mul_fix
from test_kernel_refs import MODES, NONLINEAR_NAMES, pow2, rand_int, ref_out


def ref_eltwise(inputs, fps_in, fp_out, nonlinear, bit_width, mode, op):
    shape = np.broadcast_shapes(*(a.shape for a in inputs))
    arrays = [np.broadcast_to(a, shape).astype(object) for a in inputs]
    out = np.zeros(shape, dtype=np.int64)
    for idx in np.ndindex(*shape):
        vals = [Fraction(int(a[idx])) * pow2(-f) for a, f in zip(arrays, fps_in)]
        v = vals[0]
        for t in vals[1:]:
            v = v + t if op == "add" else v * t
        out[idx] = ref_out(v, nonlinear, fp_out, bit_width, mode)
    return out


ADD_CASES = [
    # (shapes, fps_in, fp_out, bit_width)
    ([(1, 4, 5, 3), (1, 4, 5, 3)], [4, 4], 4, 8),
    ([(2, 3, 3, 5), (2, 3, 3, 5)], [6, 3], 4, 8),
    ([(1, 3, 4, 2), (1, 1, 1, 2), (1, 3, 4, 2)], [2, 5, 3], 2, 8),
    ([(1, 5, 3, 3), (1, 5, 3, 3)], [-1, 1], -2, 4),
    ([(1, 2, 3, 4), (1, 2, 3, 4)], [9, 12], 10, 16),
]


@pytest.mark.parametrize("case", range(len(ADD_CASES)))
@pytest.mark.parametrize("nonlinear", NONLINEAR_NAMES)
def test_eltwise_add_golden(case, nonlinear):
    shapes, fps, fp_out, bw = ADD_CASES[case]
    mode = MODES[(case + NONLINEAR_NAMES.index(nonlinear)) % 3]
    rng = np.random.default_rng(case * 10 + NONLINEAR_NAMES.index(nonlinear))
    xs = [rand_int(rng, s, bw) for s in shapes]
    got = eltwise_add_fix(xs, fps_in=fps, fp_out=fp_out, nonlinear=nonlinear, bit_width=bw,
                          round_mode=mode)
    want = ref_eltwise(xs, fps, fp_out, nonlinear, bw, mode, "add")
    assert got.dtype == (np.int8 if bw <= 8 else np.int16)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("mode,expected", [
    ("DPU_ROUND", [1, 0, -1, 64, 127, -128]),
    ("STD_ROUND", [1, -1, -2, 64, 127, -128]),
    ("PY3_ROUND", [0, 0, -2, 64, 127, -128]),
])
def test_eltwise_add_ties_and_saturation(mode, expected):
    a = np.array([1, -1, -2, 127, 127, -128], dtype=np.int8)
    b = np.array([0, 0, -1, 1, 127, -128], dtype=np.int8)
    # sums 1, -1, -3, 128, 254, -256 at fp 1 -> round(sum / 2) at fp 0: three exact ties
    got = eltwise_add_fix([a, b], fps_in=[1, 1], fp_out=0, round_mode=mode)
    assert got.tolist() == expected
    # at fp 1 no rounding happens and the large sums saturate at both ends
    got = eltwise_add_fix([a, b], fps_in=[1, 1], fp_out=1, round_mode=mode)
    assert got.tolist() == [1, -1, -3, 127, 127, -128]


MUL_CASES = [
    ([(1, 4, 5, 3), (1, 4, 5, 3)], [4, 6], 6, 8),
    ([(2, 3, 3, 2), (1, 1, 1, 2)], [3, 7], 4, 8),
    ([(1, 2, 3, 2), (1, 2, 3, 2), (1, 2, 3, 2)], [2, 3, 4], 1, 8),
    ([(1, 3, 3, 3), (1, 3, 3, 3)], [0, -2], -4, 4),
]


@pytest.mark.parametrize("case", range(len(MUL_CASES)))
@pytest.mark.parametrize("nonlinear", NONLINEAR_NAMES)
def test_eltwise_mul_golden(case, nonlinear):
    shapes, fps, fp_out, bw = MUL_CASES[case]
    mode = MODES[(case + NONLINEAR_NAMES.index(nonlinear)) % 3]
    rng = np.random.default_rng(500 + case * 10 + NONLINEAR_NAMES.index(nonlinear))
    xs = [rand_int(rng, s, bw) for s in shapes]
    got = eltwise_mul_fix(xs, fps_in=fps, fp_out=fp_out, nonlinear=nonlinear, bit_width=bw,
                          round_mode=mode)
    want = ref_eltwise(xs, fps, fp_out, nonlinear, bw, mode, "mul")
    assert np.array_equal(got, want)


def test_eltwise_validation():
    a = np.zeros((1, 2, 2, 3), np.int8)
    with pytest.raises(ValueError, match="at least 2 inputs"):
        eltwise_add_fix([a], fps_in=[0], fp_out=0)
    with pytest.raises(ValueError, match="fps_in"):
        eltwise_add_fix([a, a], fps_in=[0], fp_out=0)
    with pytest.raises(ValueError, match="do not broadcast"):
        eltwise_mul_fix([a, np.zeros((1, 2, 2, 4), np.int8)], fps_in=[0, 0], fp_out=0)
    with pytest.raises(ValueError, match="unknown nonlinear"):
        eltwise_add_fix([a, a], fps_in=[0, 0], fp_out=0, nonlinear="PRELU")
