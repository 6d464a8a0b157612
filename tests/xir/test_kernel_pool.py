"""Golden tests of max-pool, average pool and global average pool against exact rationals."""

from fractions import Fraction

import numpy as np
import pytest

from xir.kernels import avgpool_fix, global_avgpool_fix, maxpool_fix
from test_kernel_refs import (
    MODES,
    NONLINEAR_NAMES,
    pow2,
    rand_int,
    ref_factor_shift,
    ref_out,
    ref_quant,
)


def ref_len(size, k, s, p0, p1, ceil_mode):
    span = size + p0 + p1 - k
    if not ceil_mode:
        return span // s + 1
    n = -(-span // s) + 1
    if (n - 1) * s >= size + p0:
        n -= 1
    return n


def ref_windows(x, kernel, stride, pad, ceil_mode):
    """Yield (n, oy, ox, c, [values of the real input elements in the window])."""
    n_b, h, w, c = x.shape
    kw, kh = kernel
    sw, sh = stride
    left, right, top, bottom = pad
    oh = ref_len(h, kh, sh, top, bottom, ceil_mode)
    ow = ref_len(w, kw, sw, left, right, ceil_mode)
    xs = x.tolist()
    for n in range(n_b):
        for oy in range(oh):
            for ox in range(ow):
                for ch in range(c):
                    vals = []
                    for ky in range(kh):
                        for kx in range(kw):
                            iy, ix = oy * sh - top + ky, ox * sw - left + kx
                            if 0 <= iy < h and 0 <= ix < w:
                                vals.append(xs[n][iy][ix][ch])
                    yield n, oy, ox, ch, vals, (n_b, oh, ow, c)


def ref_maxpool(x, *, fp_in, fp_out, kernel, stride, pad, ceil_mode, bit_width, mode):
    out = None
    for n, oy, ox, ch, vals, shape in ref_windows(x, kernel, stride, pad, ceil_mode):
        if out is None:
            out = np.zeros(shape, dtype=np.int64)
        out[n, oy, ox, ch] = ref_quant(Fraction(max(vals)) * pow2(-fp_in), fp_out, bit_width,
                                       mode)
    return out


def ref_avgpool(x, *, fp_in, fp_out, kernel, stride, pad, ceil_mode, nonlinear, bit_width, mode):
    factor, shift = ref_factor_shift(kernel[1], kernel[0])
    out = None
    for n, oy, ox, ch, vals, shape in ref_windows(x, kernel, stride, pad, ceil_mode):
        if out is None:
            out = np.zeros(shape, dtype=np.int64)
        v = Fraction(sum(vals)) * Fraction(factor, 2**shift) * pow2(-fp_in)
        out[n, oy, ox, ch] = ref_out(v, nonlinear, fp_out, bit_width, mode)
    return out


MAX_CASES = [
    # (x shape, kernel (kw, kh), stride, pad, ceil_mode, fp_in, fp_out, bit_width)
    ((2, 7, 7, 3), (3, 3), (2, 2), (1, 1, 1, 1), False, 3, 3, 8),
    ((1, 5, 5, 5), (2, 2), (2, 2), (0, 0, 0, 0), True, 2, 2, 8),
    ((1, 6, 7, 2), (2, 3), (2, 1), (1, 0, 1, 1), True, 4, 1, 8),
    ((1, 5, 4, 3), (3, 3), (1, 1), (1, 1, 1, 1), False, -2, -3, 4),
    ((1, 4, 4, 2), (2, 2), (1, 1), (0, 0, 0, 0), False, 5, 7, 8),
]


@pytest.mark.parametrize("case", range(len(MAX_CASES)))
@pytest.mark.parametrize("mode", MODES)
def test_maxpool_golden(case, mode):
    xs, kernel, stride, pad, ceil_mode, fp_in, fp_out, bw = MAX_CASES[case]
    x = rand_int(np.random.default_rng(case), xs, bw)
    kwargs = dict(fp_in=fp_in, fp_out=fp_out, kernel=kernel, stride=stride, pad=pad,
                  ceil_mode=ceil_mode, bit_width=bw)
    got = maxpool_fix(x, round_mode=mode, **kwargs)
    want = ref_maxpool(x, mode=mode, **kwargs)
    assert got.shape == want.shape
    assert np.array_equal(got, want)


def test_maxpool_padding_never_wins():
    x = np.full((1, 3, 3, 1), -128, dtype=np.int8)
    got = maxpool_fix(x, fp_in=0, fp_out=0, kernel=(3, 3), stride=(1, 1), pad=(1, 1, 1, 1))
    assert got.shape == (1, 3, 3, 1) and (got == -128).all()


def test_maxpool_rejects_windows_of_padding_only():
    x = np.zeros((1, 4, 4, 1), dtype=np.int8)
    with pytest.raises(ValueError, match="only padding"):
        maxpool_fix(x, fp_in=0, fp_out=0, kernel=(2, 2), stride=(2, 2), pad=(2, 0, 0, 0))


AVG_CASES = [
    # (x shape, kernel (kw, kh), stride, pad, ceil_mode, fp_in, fp_out, bit_width)
    ((1, 7, 7, 3), (3, 3), (1, 1), (1, 1, 1, 1), False, 4, 4, 8),
    ((2, 5, 6, 2), (2, 2), (2, 2), (0, 0, 0, 0), False, 3, 3, 8),
    ((1, 5, 5, 2), (5, 5), (1, 1), (0, 0, 0, 0), False, 2, 5, 8),
    ((1, 6, 5, 3), (2, 3), (1, 2), (1, 0, 1, 1), False, 5, 4, 8),
    ((1, 5, 5, 2), (2, 2), (2, 2), (0, 0, 0, 0), True, 3, 3, 8),
    ((1, 6, 6, 2), (6, 6), (1, 1), (0, 0, 0, 0), False, -1, 0, 4),
    ((1, 8, 7, 2), (7, 7), (1, 1), (0, 0, 0, 0), False, 6, 6, 16),
]


@pytest.mark.parametrize("case", range(len(AVG_CASES)))
@pytest.mark.parametrize("nonlinear", NONLINEAR_NAMES)
def test_avgpool_golden(case, nonlinear):
    xs, kernel, stride, pad, ceil_mode, fp_in, fp_out, bw = AVG_CASES[case]
    mode = MODES[(case + NONLINEAR_NAMES.index(nonlinear)) % 3]
    x = rand_int(np.random.default_rng(70 + case), xs, bw)
    kwargs = dict(fp_in=fp_in, fp_out=fp_out, kernel=kernel, stride=stride, pad=pad,
                  ceil_mode=ceil_mode, nonlinear=nonlinear, bit_width=bw)
    got = avgpool_fix(x, round_mode=mode, **kwargs)
    want = ref_avgpool(x, mode=mode, **kwargs)
    assert got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("mode,expected", [
    ("DPU_ROUND", [1, 0]), ("STD_ROUND", [1, -1]), ("PY3_ROUND", [0, 0])])
def test_avgpool_ties(mode, expected):
    # 2x2 window (factor 1, shift 2): sums 2 and -2 at fp 0 -> 0.5 and -0.5
    x = np.array([1, 1, -1, -1, 0, 0, 0, 0], dtype=np.int8).reshape(1, 2, 4, 1)
    got = avgpool_fix(x, fp_in=0, fp_out=0, kernel=(2, 2), stride=(2, 2), round_mode=mode)
    assert got.ravel().tolist() == expected


def test_avgpool_uses_hardware_factor_not_exact_division():
    # 3x3 of ones at fp 0 -> 9 * 7/64 = 0.984375, to fp 6 -> 63 (an exact mean would give 64)
    x = np.ones((1, 3, 3, 1), dtype=np.int8)
    got = avgpool_fix(x, fp_in=0, fp_out=6, kernel=(3, 3), stride=(1, 1))
    assert got.ravel().tolist() == [63]


def test_avgpool_count_include_pad_false():
    x = rand_int(np.random.default_rng(5), (1, 4, 4, 2))
    same = avgpool_fix(x, fp_in=2, fp_out=2, kernel=(2, 2), stride=(2, 2), count_include_pad=False)
    assert np.array_equal(same, avgpool_fix(x, fp_in=2, fp_out=2, kernel=(2, 2), stride=(2, 2)))
    with pytest.raises(ValueError, match="count_include_pad=False"):
        avgpool_fix(x, fp_in=2, fp_out=2, kernel=(3, 3), stride=(1, 1), pad=(1, 1, 1, 1),
                    count_include_pad=False)


@pytest.mark.parametrize("hw", [(7, 7), (5, 6), (4, 4), (14, 14), (56, 56)])
def test_global_avgpool_golden(hw):
    h, w = hw
    x = rand_int(np.random.default_rng(h * w), (2, h, w, 3))
    got = global_avgpool_fix(x, fp_in=3, fp_out=5, nonlinear="RELU")
    want = ref_avgpool(x, fp_in=3, fp_out=5, kernel=(w, h), stride=(w, h), pad=(0, 0, 0, 0),
                       ceil_mode=False, nonlinear="RELU", bit_width=8, mode="DPU_ROUND")
    assert got.shape == (2, 1, 1, 3)
    assert np.array_equal(got, want)
