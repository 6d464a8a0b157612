"""Golden tests of the conv family (conv2d, depthwise, transposed, dense) against rationals."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from xir.kernels import conv2d_fix, dense_fix, depthwise_conv2d_fix, transposed_conv2d_fix
from test_kernel_refs import MODES, NONLINEAR_NAMES, pow2, rand_int, ref_out

# ---- oracles (plain loops, Python ints, Fractions) ---------------------------------------------


def _value(acc: int, acc_exp: int, bias, fp_b) -> Fraction:
    v = Fraction(acc) * pow2(-acc_exp)
    if bias is not None:
        v += Fraction(int(bias)) * pow2(-fp_b)
    return v


def ref_conv2d(x, w, b, *, fp_in, fp_w, fp_b, fp_out, stride, pad, dilation, group, nonlinear,
               bit_width, mode):
    n_b, h, wd, cin = x.shape
    cout, kh, kw, cig = w.shape
    sw, sh = stride
    dw, dh = dilation
    left, right, top, bottom = pad
    oh = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + left + right - dw * (kw - 1) - 1) // sw + 1
    xs, ws = x.tolist(), w.tolist()
    cog = cout // group
    out = np.zeros((n_b, oh, ow, cout), dtype=np.int64)
    for n in range(n_b):
        for oy in range(oh):
            for ox in range(ow):
                for o in range(cout):
                    g = o // cog
                    acc = 0
                    for ky in range(kh):
                        iy = oy * sh - top + ky * dh
                        if not 0 <= iy < h:
                            continue
                        for kx in range(kw):
                            ix = ox * sw - left + kx * dw
                            if not 0 <= ix < wd:
                                continue
                            for i in range(cig):
                                acc += xs[n][iy][ix][g * cig + i] * ws[o][ky][kx][i]
                    v = _value(acc, fp_in + fp_w, None if b is None else b[o], fp_b)
                    out[n, oy, ox, o] = ref_out(v, nonlinear, fp_out, bit_width, mode)
    return out


def ref_depthwise(x, w, b, *, fp_in, fp_w, fp_b, fp_out, stride, pad, dilation, nonlinear,
                  bit_width, mode):
    n_b, h, wd, c = x.shape
    mult, kh, kw, _ = w.shape
    sw, sh = stride
    dw, dh = dilation
    left, right, top, bottom = pad
    oh = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + left + right - dw * (kw - 1) - 1) // sw + 1
    xs, ws = x.tolist(), w.tolist()
    out = np.zeros((n_b, oh, ow, c * mult), dtype=np.int64)
    for n in range(n_b):
        for oy in range(oh):
            for ox in range(ow):
                for ch in range(c):
                    for m in range(mult):
                        acc = 0
                        for ky in range(kh):
                            for kx in range(kw):
                                iy, ix = oy * sh - top + ky * dh, ox * sw - left + kx * dw
                                if 0 <= iy < h and 0 <= ix < wd:
                                    acc += xs[n][iy][ix][ch] * ws[m][ky][kx][ch]
                        o = ch * mult + m
                        v = _value(acc, fp_in + fp_w, None if b is None else b[o], fp_b)
                        out[n, oy, ox, o] = ref_out(v, nonlinear, fp_out, bit_width, mode)
    return out


def ref_transposed(x, w, b, *, fp_in, fp_w, fp_b, fp_out, stride, pad, dilation, group,
                   output_padding, nonlinear, bit_width, mode):
    """Scatter definition: input (iy, ix) adds x*w[o,ky,kx,i] at (iy*sh-top+ky*dh, ...)."""
    n_b, h, wd, cin = x.shape
    cout, kh, kw, cig = w.shape
    sw, sh = stride
    dw, dh = dilation
    left, right, top, bottom = pad
    opw, oph = output_padding
    oh = (h - 1) * sh - top - bottom + dh * (kh - 1) + oph + 1
    ow = (wd - 1) * sw - left - right + dw * (kw - 1) + opw + 1
    cog = cout // group
    xs, ws = x.tolist(), w.tolist()
    acc = [[[[0] * cout for _ in range(ow)] for _ in range(oh)] for _ in range(n_b)]
    for n in range(n_b):
        for iy in range(h):
            for ix in range(wd):
                for o in range(cout):
                    g = o // cog
                    for ky in range(kh):
                        oy = iy * sh - top + ky * dh
                        if not 0 <= oy < oh:
                            continue
                        for kx in range(kw):
                            ox = ix * sw - left + kx * dw
                            if not 0 <= ox < ow:
                                continue
                            for i in range(cig):
                                acc[n][oy][ox][o] += xs[n][iy][ix][g * cig + i] * ws[o][ky][kx][i]
    out = np.zeros((n_b, oh, ow, cout), dtype=np.int64)
    for n in range(n_b):
        for oy in range(oh):
            for ox in range(ow):
                for o in range(cout):
                    v = _value(acc[n][oy][ox][o], fp_in + fp_w, None if b is None else b[o], fp_b)
                    out[n, oy, ox, o] = ref_out(v, nonlinear, fp_out, bit_width, mode)
    return out


# ---- conv2d ------------------------------------------------------------------------------------

CONV_CASES = [
    # (x shape, (out_c, kh, kw), stride, pad, dilation, group, fps (in, w, b, out), bit_width,
    #  small data)
    ((2, 5, 4, 3), (5, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, (3, 5, 6, 4), 8, True),
    ((1, 6, 7, 5), (7, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, (4, 6, 3, 1), 8, False),
    ((1, 9, 7, 3), (4, 5, 5), (2, 2), (2, 1, 2, 2), (1, 1), 1, (2, 6, 12, -1), 8, False),
    ((1, 8, 5, 3), (3, 7, 1), (1, 1), (0, 0, 3, 3), (1, 1), 1, (3, 3, 9, -2), 8, False),
    ((1, 7, 8, 4), (3, 3, 3), (1, 2), (2, 2, 2, 2), (2, 2), 1, (5, 5, 4, 1), 8, False),
    ((2, 5, 5, 6), (4, 3, 3), (2, 2), (1, 0, 1, 0), (1, 1), 2, (0, 7, 2, 0), 8, False),
    ((1, 5, 6, 3), (4, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, (-2, 3, -4, -7), 8, False),
    ((1, 4, 5, 3), (2, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, (1, 1, 0, 0), 4, True),
    ((1, 4, 5, 3), (3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, (8, 10, 20, 0), 16, False),
]


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
@pytest.mark.parametrize("nonlinear", NONLINEAR_NAMES)
def test_conv2d_golden(case, nonlinear):
    xs, (cout, kh, kw), stride, pad, dilation, group, fps, bw, small = CONV_CASES[case]
    fp_in, fp_w, fp_b, fp_out = fps
    mode = MODES[(case + NONLINEAR_NAMES.index(nonlinear)) % 3]
    rng = np.random.default_rng(1000 * case + NONLINEAR_NAMES.index(nonlinear))
    data_bw = 3 if small else bw
    x = rand_int(rng, xs, data_bw)
    w = rand_int(rng, (cout, kh, kw, xs[3] // group), data_bw)
    b = rand_int(rng, (cout,), bw)
    kwargs = dict(fp_in=fp_in, fp_w=fp_w, fp_b=fp_b, fp_out=fp_out, stride=stride, pad=pad,
                  dilation=dilation, group=group, nonlinear=nonlinear, bit_width=bw)
    got = conv2d_fix(x, w, b, round_mode=mode, **kwargs)
    want = ref_conv2d(x, w, b, mode=mode, **kwargs)
    assert got.dtype == (np.int8 if bw <= 8 else np.int16)
    assert got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("mode,expected", [
    ("DPU_ROUND", [-2, -1, 0, 1, 2, 3, -3]),
    ("STD_ROUND", [-3, -2, -1, 1, 2, 3, -3]),
    ("PY3_ROUND", [-2, -2, 0, 0, 2, 2, -3]),
])
def test_conv2d_rounding_ties(mode, expected):
    # 1x1 identity weight at fp_w 0, fp_in 1, fp_out 0: out = round(x / 2) -> every odd x is a tie
    x = np.array([-5, -3, -1, 1, 3, 5, -6], dtype=np.int8).reshape(1, 1, 7, 1)
    w = np.ones((1, 1, 1, 1), dtype=np.int8)
    got = conv2d_fix(x, w, None, fp_in=1, fp_w=0, fp_out=0, round_mode=mode)
    assert got.ravel().tolist() == expected


@pytest.mark.parametrize("mode", MODES)
def test_conv2d_bias_finer_and_coarser_than_accumulator(mode):
    x = np.array([[3, -7]], dtype=np.int8).reshape(1, 1, 1, 2)
    w = np.array([[1, 2]], dtype=np.int8).reshape(1, 1, 1, 2)
    # acc = 3 - 14 = -11 at scale 2^-4 (fp_in 2 + fp_w 2)
    for fp_b, bias in ((9, 37), (1, 3), (4, 5), (-2, 1)):
        got = conv2d_fix(x, w, np.array([bias]), fp_in=2, fp_w=2, fp_b=fp_b, fp_out=3,
                         round_mode=mode)
        v = Fraction(-11, 16) + Fraction(bias) * pow2(-fp_b)
        assert int(got.ravel()[0]) == ref_out(v, "NONE", 3, 8, mode), fp_b


@pytest.mark.parametrize("bw,lo,hi", [(8, -128, 127), (4, -8, 7), (16, -32768, 32767)])
def test_conv2d_saturates_both_ends(bw, lo, hi):
    x = np.array([100, -100, 1], dtype=np.int16).reshape(1, 1, 3, 1)
    w = np.full((1, 1, 1, 1), 120, dtype=np.int16)
    got = conv2d_fix(x, w, None, fp_in=0, fp_w=0, fp_out=4, bit_width=bw)
    # 12000*16 and -12000*16 saturate; 120*16 = 1920 fits only the 16-bit range
    assert got.ravel().tolist() == [hi, lo, min(1920, hi)]


def test_conv2d_int64_fallback_is_exact():
    # magnitudes beyond the float64-exact bound force the int64 accumulation path
    rng = np.random.default_rng(7)
    x = rng.integers(-(2**28), 2**28, size=(1, 3, 3, 4)).astype(np.int32)
    w = rng.integers(-(2**28), 2**28, size=(2, 3, 3, 4)).astype(np.int32)
    kwargs = dict(fp_in=0, fp_w=0, fp_b=None, fp_out=-56, stride=(1, 1), pad=(1, 1, 1, 1),
                  dilation=(1, 1), group=1, nonlinear="NONE", bit_width=8)
    got = conv2d_fix(x, w, None, round_mode="DPU_ROUND", **kwargs)
    want = ref_conv2d(x, w, None, mode="DPU_ROUND", **kwargs)
    assert np.array_equal(got, want)
    assert np.abs(got).max() > 0


def test_conv2d_validation_messages():
    x = np.zeros((1, 4, 4, 3), dtype=np.int8)
    w = np.zeros((2, 3, 3, 4), dtype=np.int8)
    with pytest.raises(ValueError, match=r"\(1, 4, 4, 3\).*\(2, 3, 3, 4\)"):
        conv2d_fix(x, w, None, fp_in=0, fp_w=0, fp_out=0)
    w = np.zeros((2, 3, 3, 3), dtype=np.int8)
    with pytest.raises(ValueError, match="unknown nonlinear 'SWISH'"):
        conv2d_fix(x, w, None, fp_in=0, fp_w=0, fp_out=0, nonlinear="SWISH")
    with pytest.raises(ValueError, match="integer"):
        conv2d_fix(x.astype(np.float32), w, None, fp_in=0, fp_w=0, fp_out=0)
    with pytest.raises(ValueError, match="bias shape"):
        conv2d_fix(x, w, np.zeros(3, np.int8), fp_in=0, fp_w=0, fp_b=0, fp_out=0)
    with pytest.raises(ValueError, match="fp_b"):
        conv2d_fix(x, w, np.zeros(2, np.int8), fp_in=0, fp_w=0, fp_out=0)
    with pytest.raises(ValueError, match="does not fit"):
        conv2d_fix(x, np.zeros((2, 7, 7, 3), np.int8), None, fp_in=0, fp_w=0, fp_out=0)
    with pytest.raises(ValueError, match="round_mode"):
        conv2d_fix(x, w, None, fp_in=0, fp_w=0, fp_out=0, round_mode="UP")


# ---- depthwise ---------------------------------------------------------------------------------

DW_CASES = [
    # (x shape, multiplier, (kh, kw), stride, pad, dilation, fps)
    ((1, 6, 5, 5), 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), (3, 6, 9, 1)),
    ((2, 7, 7, 3), 2, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), (4, 5, 2, 1)),
    ((1, 7, 6, 4), 1, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), (2, 7, 7, 1)),
    ((1, 5, 8, 3), 2, (1, 5), (2, 1), (2, 2, 0, 0), (1, 1), (-1, 4, 1, -4)),
]


@pytest.mark.parametrize("case", range(len(DW_CASES)))
@pytest.mark.parametrize("nonlinear", NONLINEAR_NAMES)
def test_depthwise_golden(case, nonlinear):
    xs, mult, (kh, kw), stride, pad, dilation, (fp_in, fp_w, fp_b, fp_out) = DW_CASES[case]
    mode = MODES[(case + NONLINEAR_NAMES.index(nonlinear)) % 3]
    rng = np.random.default_rng(50 + 10 * case + NONLINEAR_NAMES.index(nonlinear))
    x = rand_int(rng, xs)
    w = rand_int(rng, (mult, kh, kw, xs[3]))
    b = rand_int(rng, (xs[3] * mult,))
    kwargs = dict(fp_in=fp_in, fp_w=fp_w, fp_b=fp_b, fp_out=fp_out, stride=stride, pad=pad,
                  dilation=dilation, nonlinear=nonlinear, bit_width=8)
    got = depthwise_conv2d_fix(x, w, b, round_mode=mode, **kwargs)
    want = ref_depthwise(x, w, b, mode=mode, **kwargs)
    assert np.array_equal(got, want)


def test_depthwise_equals_grouped_conv():
    rng = np.random.default_rng(3)
    x = rand_int(rng, (1, 6, 6, 4))
    w = rand_int(rng, (2, 3, 3, 4))  # multiplier 2
    b = rand_int(rng, (8,))
    dw = depthwise_conv2d_fix(x, w, b, fp_in=3, fp_w=6, fp_b=5, fp_out=3, pad=(1, 1, 1, 1))
    # output channel c*2 + m of the depthwise = grouped conv (group 4) weight [c*2+m, kh, kw, 1]
    wg = np.transpose(w, (3, 0, 1, 2)).reshape(8, 3, 3, 1)
    gc = conv2d_fix(x, wg, b, fp_in=3, fp_w=6, fp_b=5, fp_out=3, pad=(1, 1, 1, 1), group=4)
    assert np.array_equal(dw, gc)


def test_depthwise_validation():
    with pytest.raises(ValueError, match=r"\(1, 4, 4, 3\).*\(1, 3, 3, 4\)"):
        depthwise_conv2d_fix(np.zeros((1, 4, 4, 3), np.int8), np.zeros((1, 3, 3, 4), np.int8),
                             None, fp_in=0, fp_w=0, fp_out=0)


# ---- transposed --------------------------------------------------------------------------------

TCONV_CASES = [
    # (x shape, (out_c, kh, kw), stride, pad, dilation, group, output_padding, fps)
    ((1, 4, 3, 3), (4, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1, (1, 1), (3, 6, 8, 1)),
    ((2, 3, 3, 2), (3, 2, 2), (3, 3), (0, 0, 0, 0), (1, 1), 1, (0, 0), (4, 5, 3, 2)),
    ((1, 3, 4, 4), (2, 3, 3), (1, 2), (2, 0, 1, 2), (1, 1), 2, (0, 1), (2, 6, 6, 0)),
    ((1, 3, 3, 3), (2, 3, 3), (2, 2), (1, 1, 0, 0), (2, 2), 1, (1, 0), (5, 5, 11, 3)),
]


@pytest.mark.parametrize("case", range(len(TCONV_CASES)))
@pytest.mark.parametrize("nonlinear", ["NONE", "RELU", "LEAKYRELU", "HSWISH"])
def test_transposed_golden(case, nonlinear):
    xs, (cout, kh, kw), stride, pad, dilation, group, opad, fps = TCONV_CASES[case]
    fp_in, fp_w, fp_b, fp_out = fps
    mode = MODES[case % 3]
    rng = np.random.default_rng(400 + case)
    x = rand_int(rng, xs)
    w = rand_int(rng, (cout, kh, kw, xs[3] // group))
    b = rand_int(rng, (cout,))
    kwargs = dict(fp_in=fp_in, fp_w=fp_w, fp_b=fp_b, fp_out=fp_out, stride=stride, pad=pad,
                  dilation=dilation, group=group, output_padding=opad, nonlinear=nonlinear,
                  bit_width=8)
    got = transposed_conv2d_fix(x, w, b, round_mode=mode, **kwargs)
    want = ref_transposed(x, w, b, mode=mode, **kwargs)
    assert got.shape == want.shape
    assert np.array_equal(got, want)


def test_transposed_output_size_follows_pytorch():
    x = np.zeros((1, 4, 5, 1), np.int8)
    w = np.zeros((2, 3, 3, 1), np.int8)
    got = transposed_conv2d_fix(x, w, None, fp_in=0, fp_w=0, fp_out=0, stride=(2, 2),
                                pad=(1, 1, 1, 1), output_padding=(1, 1))
    # H: (4-1)*2 - 2 + 2 + 1 + 1 = 8 ; W: (5-1)*2 - 2 + 2 + 1 + 1 = 10
    assert got.shape == (1, 8, 10, 2)
    with pytest.raises(ValueError, match="output_padding"):
        transposed_conv2d_fix(x, w, None, fp_in=0, fp_w=0, fp_out=0, output_padding=(1, 1))


@pytest.mark.parametrize("case", range(len(TCONV_CASES)))
def test_transposed_equals_conv_of_zero_inserted_input_with_flipped_kernel(case):
    xs, (cout, kh, kw), stride, pad, dilation, group, opad, fps = TCONV_CASES[case]
    fp_in, fp_w, fp_b, fp_out = fps
    sw, sh = stride
    dw, dh = dilation
    left, right, top, bottom = pad
    rng = np.random.default_rng(900 + case)
    x = rand_int(rng, xs)
    w = rand_int(rng, (cout, kh, kw, xs[3] // group))
    b = rand_int(rng, (cout,))
    tc = transposed_conv2d_fix(x, w, b, fp_in=fp_in, fp_w=fp_w, fp_b=fp_b, fp_out=fp_out,
                               stride=stride, pad=pad, dilation=dilation, group=group,
                               output_padding=opad)
    n, h, wd, c = xs
    z = np.zeros((n, (h - 1) * sh + 1, (wd - 1) * sw + 1, c), dtype=np.int8)
    z[:, ::sh, ::sw, :] = x
    cpad = (dw * (kw - 1) - left, dw * (kw - 1) - right + opad[0],
            dh * (kh - 1) - top, dh * (kh - 1) - bottom + opad[1])
    cv = conv2d_fix(z, w[:, ::-1, ::-1, :], b, fp_in=fp_in, fp_w=fp_w, fp_b=fp_b, fp_out=fp_out,
                    pad=cpad, dilation=dilation, group=group)
    assert np.array_equal(tc, cv)


# ---- dense -------------------------------------------------------------------------------------


@pytest.mark.parametrize("nonlinear", NONLINEAR_NAMES)
@pytest.mark.parametrize("rank4", [False, True])
def test_dense_golden(nonlinear, rank4):
    rng = np.random.default_rng(11 + NONLINEAR_NAMES.index(nonlinear))
    x = rand_int(rng, (3, 13))
    w = rand_int(rng, (5, 13))
    b = rand_int(rng, (5,))
    mode = MODES[NONLINEAR_NAMES.index(nonlinear) % 3]
    xin = x.reshape(3, 1, 1, 13) if rank4 else x
    got = dense_fix(xin, w, b, fp_in=4, fp_w=7, fp_b=5, fp_out=2, nonlinear=nonlinear,
                    round_mode=mode)
    assert got.shape == ((3, 1, 1, 5) if rank4 else (3, 5))
    for n in range(3):
        for o in range(5):
            acc = sum(int(x[n, k]) * int(w[o, k]) for k in range(13))
            v = Fraction(acc, 2**11) + Fraction(int(b[o]), 2**5)
            assert int(got.reshape(3, 5)[n, o]) == ref_out(v, nonlinear, 2, 8, mode)


def test_dense_validation():
    with pytest.raises(ValueError, match=r"\(2, 4\).*\(3, 5\)"):
        dense_fix(np.zeros((2, 4), np.int8), np.zeros((3, 5), np.int8), None,
                  fp_in=0, fp_w=0, fp_out=0)


# ---- randomized geometry (hypothesis) ----------------------------------------------------------

@st.composite
def conv_problems(draw):
    group = draw(st.sampled_from([1, 2]))
    cin = group * draw(st.integers(1, 3))
    cout = group * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad = tuple(draw(st.integers(0, 2)) for _ in range(4))
    bw = draw(st.sampled_from([4, 8, 16]))
    fp_in, fp_w = draw(st.integers(-3, 8)), draw(st.integers(-3, 8))
    fp_b = draw(st.one_of(st.none(), st.integers(-4, 16)))
    fp_out = fp_in + fp_w - draw(st.integers(-2, 10 if bw == 16 else 7))
    nonlinear = draw(st.sampled_from(NONLINEAR_NAMES))
    mode = draw(st.sampled_from(MODES))
    seed = draw(st.integers(0, 2**31))
    return (group, cin, cout, kh, kw, h, w, stride, dilation, pad, bw, fp_in, fp_w, fp_b, fp_out,
            nonlinear, mode, seed)


@settings(max_examples=60, deadline=None)
@given(conv_problems())
def test_conv2d_random_geometry(problem):
    (group, cin, cout, kh, kw, h, w, stride, dilation, pad, bw, fp_in, fp_w, fp_b, fp_out,
     nonlinear, mode, seed) = problem
    assume(h + pad[2] + pad[3] >= dilation[1] * (kh - 1) + 1)
    assume(w + pad[0] + pad[1] >= dilation[0] * (kw - 1) + 1)
    rng = np.random.default_rng(seed)
    x = rand_int(rng, (1, h, w, cin), bw)
    wt = rand_int(rng, (cout, kh, kw, cin // group), bw)
    b = None if fp_b is None else rand_int(rng, (cout,), bw)
    kwargs = dict(fp_in=fp_in, fp_w=fp_w, fp_b=fp_b, fp_out=fp_out, stride=stride, pad=pad,
                  dilation=dilation, group=group, nonlinear=nonlinear, bit_width=bw)
    got = conv2d_fix(x, wt, b, round_mode=mode, **kwargs)
    assert np.array_equal(got, ref_conv2d(x, wt, b, mode=mode, **kwargs))


@settings(max_examples=40, deadline=None)
@given(conv_problems(), st.integers(0, 1), st.integers(0, 1))
def test_transposed_random_geometry(problem, opw, oph):
    (group, cin, cout, kh, kw, h, w, stride, dilation, pad, bw, fp_in, fp_w, fp_b, fp_out,
     nonlinear, mode, seed) = problem
    opad = (min(opw, max(stride[0], dilation[0]) - 1), min(oph, max(stride[1], dilation[1]) - 1))
    assume((h - 1) * stride[1] - pad[2] - pad[3] + dilation[1] * (kh - 1) + opad[1] + 1 >= 1)
    assume((w - 1) * stride[0] - pad[0] - pad[1] + dilation[0] * (kw - 1) + opad[0] + 1 >= 1)
    rng = np.random.default_rng(seed)
    x = rand_int(rng, (1, h, w, cin), bw)
    wt = rand_int(rng, (cout, kh, kw, cin // group), bw)
    b = None if fp_b is None else rand_int(rng, (cout,), bw)
    kwargs = dict(fp_in=fp_in, fp_w=fp_w, fp_b=fp_b, fp_out=fp_out, stride=stride, pad=pad,
                  dilation=dilation, group=group, output_padding=opad, nonlinear=nonlinear,
                  bit_width=bw)
    got = transposed_conv2d_fix(x, wt, b, round_mode=mode, **kwargs)
    assert np.array_equal(got, ref_transposed(x, wt, b, mode=mode, **kwargs))
