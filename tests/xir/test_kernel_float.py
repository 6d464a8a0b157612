"""Golden tests of the float kernels of CPU subgraphs.

Linear kernels are fed dyadic values (multiples of 1/8, small), so every float64 sum is exact in
any order and the oracle (Fractions) must agree bit for bit after the float32 cast.  The
transcendental kernels are compared with a float64 oracle built on Python's math module.
"""

from fractions import Fraction
import math
import warnings

import numpy as np
import pytest

from xir import fixpoint
from xir.kernels import float_ops as fo
from test_kernel_refs import MODES, pow2, ref_clamp, ref_round


def dyadic(rng, shape, scale=8, span=64):
    return (rng.integers(-span, span + 1, size=shape) / scale).astype(np.float32)


def f32(v) -> np.float32:
    return np.float32(float(v))


def test_softmax_sigmoid_tanh_against_math():
    rng = np.random.default_rng(0)
    x = rng.normal(scale=4.0, size=(3, 7)).astype(np.float32)
    got = fo.softmax(x, axis=-1)
    assert got.dtype == np.float32
    for r in range(3):
        row = [float(v) for v in x[r]]
        m = max(row)
        e = [math.exp(v - m) for v in row]
        s = 0.0
        for t in e:
            s += t
        assert got[r].tolist() == [float(f32(t / s)) for t in e]
    got = fo.softmax(x, axis=0)
    assert np.allclose(got.sum(axis=0), 1.0)
    xs = np.array([-1000.0, -30.0, -1.5, 0.0, 0.25, 2.0, 40.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sig = fo.sigmoid(xs)
    want = [1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))
            for v in xs]
    assert sig.tolist() == [float(f32(v)) for v in want]
    assert fo.tanh(xs).tolist() == [float(f32(math.tanh(v))) for v in xs]


def ref_conv_float(x, w, b, stride, pad, dilation, group):
    n_b, h, wd, cin = x.shape
    cout, kh, kw, cig = w.shape
    sw, sh = stride
    dw, dh = dilation
    left, right, top, bottom = pad
    oh = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + left + right - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n_b, oh, ow, cout), dtype=np.float32)
    cog = cout // group
    for n, oy, ox, o in np.ndindex(n_b, oh, ow, cout):
        g = o // cog
        acc = Fraction(0) if b is None else Fraction(float(b[o]))
        for ky, kx, i in np.ndindex(kh, kw, cig):
            iy, ix = oy * sh - top + ky * dh, ox * sw - left + kx * dw
            if 0 <= iy < h and 0 <= ix < wd:
                acc += Fraction(float(x[n, iy, ix, g * cig + i])) * Fraction(float(w[o, ky, kx, i]))
        out[n, oy, ox, o] = f32(acc)
    return out


@pytest.mark.parametrize("stride,pad,dilation,group,bias", [
    ((1, 1), (1, 1, 1, 1), (1, 1), 1, True),
    ((2, 1), (0, 1, 2, 0), (1, 2), 2, False),
])
def test_conv2d_float_golden(stride, pad, dilation, group, bias):
    rng = np.random.default_rng(4)
    x = dyadic(rng, (1, 5, 6, 4))
    w = dyadic(rng, (6, 3, 3, 4 // group))
    b = dyadic(rng, (6,)) if bias else None
    got = fo.conv2d_float(x, w, b, stride=stride, pad=pad, dilation=dilation, group=group)
    assert got.dtype == np.float32
    assert np.array_equal(got, ref_conv_float(x, w, b, stride, pad, dilation, group))


def test_matmul_add_mul_reduce_mean():
    rng = np.random.default_rng(5)
    a = dyadic(rng, (2, 3, 4))
    b = dyadic(rng, (5, 4))
    got = fo.matmul(a, b, transpose_b=True)
    assert got.shape == (2, 3, 5)
    for i, j, k in np.ndindex(2, 3, 5):
        want = sum(Fraction(float(a[i, j, t])) * Fraction(float(b[k, t])) for t in range(4))
        assert got[i, j, k] == f32(want)
    assert np.array_equal(fo.matmul(np.swapaxes(a, 1, 2), b.T, transpose_a=True), got)
    with pytest.raises(ValueError, match="inner dimensions"):
        fo.matmul(a, b)
    c = dyadic(rng, (1, 3, 1))
    assert np.array_equal(fo.add(a, c), (a.astype(np.float64) + c).astype(np.float32))
    assert np.array_equal(fo.mul(a, c), (a.astype(np.float64) * c).astype(np.float32))
    m = fo.reduce_mean(a, axis=(1, 2), keep_dims=True)
    assert m.shape == (2, 1, 1)
    for i in range(2):
        exact = sum(Fraction(float(v)) for v in a[i].ravel()) / 12
        assert m[i, 0, 0] == f32(exact)
    assert fo.reduce_mean(a, axis=-1).shape == (2, 3)
    mx = fo.reduce_max(a, axis=1, keep_dims=True)
    assert mx.shape == (2, 1, 4) and mx.dtype == np.float32
    assert np.array_equal(mx[:, 0], np.max(a, axis=1)) and fo.reduce_max(a, axis=(0, 2)).shape == (3,)


def ref_bilinear(x, out_h, out_w, align_corners, half_pixel):
    def axis(n_in, n_out):
        if align_corners:
            scale = Fraction(n_in - 1, n_out - 1) if n_out > 1 else Fraction(0)
        else:
            scale = Fraction(n_in, n_out)
        res = []
        for i in range(n_out):
            src = (i + Fraction(1, 2)) * scale - Fraction(1, 2) if half_pixel else i * scale
            src = max(src, Fraction(0))
            i0 = min(math.floor(src), n_in - 1)
            res.append((i0, min(i0 + 1, n_in - 1), src - i0))
        return res

    ys, xs = axis(x.shape[1], out_h), axis(x.shape[2], out_w)
    out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]), dtype=np.float32)
    for n, oy, ox, c in np.ndindex(*out.shape):
        y0, y1, ly = ys[oy]
        x0, x1, lx = xs[ox]
        v = lambda yy, xx: Fraction(float(x[n, yy, xx, c]))  # noqa: E731
        top = (1 - lx) * v(y0, x0) + lx * v(y0, x1)
        bot = (1 - lx) * v(y1, x0) + lx * v(y1, x1)
        out[n, oy, ox, c] = f32((1 - ly) * top + ly * bot)
    return out


@pytest.mark.parametrize("in_hw,out_hw,align_corners,half_pixel", [
    ((4, 4), (8, 8), False, False),
    ((2, 4), (4, 8), False, True),
    ((3, 5), (5, 9), True, False),
    ((4, 2), (2, 4), False, True),
])
def test_resize_bilinear_golden(in_hw, out_hw, align_corners, half_pixel):
    x = dyadic(np.random.default_rng(6), (1,) + in_hw + (2,))
    got = fo.resize(x, size=(out_hw[1], out_hw[0]), mode="BILINEAR", align_corners=align_corners,
                    half_pixel_centers=half_pixel)
    assert np.array_equal(got, ref_bilinear(x, out_hw[0], out_hw[1], align_corners, half_pixel))


def test_resize_nearest_and_validation():
    x = dyadic(np.random.default_rng(7), (1, 2, 3, 1))
    got = fo.resize(x, size=(6, 4), mode="NEAREST")
    assert np.array_equal(got, np.repeat(np.repeat(x, 2, axis=1), 2, axis=2))
    with pytest.raises(ValueError, match="unknown resize mode"):
        fo.resize(x, size=(6, 4), mode="CUBIC")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fix_point,bit_width", [(4, 8), (-2, 8), (2, 4), (9, 16)])
def test_fix_family(mode, fix_point, bit_width):
    rng = np.random.default_rng(fix_point + 20)
    lo, hi = fixpoint.qrange(bit_width)
    q = rng.integers(lo - 4, hi + 4, size=60)
    x = np.concatenate([np.ldexp(q + 0.5, -fix_point), np.ldexp(q + 0.3, -fix_point)])
    ints = fo.float2fix(x, fix_point=fix_point, bit_width=bit_width, round_mode=mode)
    want = [ref_clamp(ref_round(Fraction(v) * pow2(fix_point), mode), bit_width) for v in x]
    assert ints.tolist() == want
    assert ints.dtype == fixpoint.int_dtype(bit_width)
    back = fo.fix2float(ints, fix_point=fix_point)
    assert back.dtype == np.float32
    assert back.tolist() == [float(Fraction(v) * pow2(-fix_point)) for v in want]
    fq = fo.fix(x, fix_point=fix_point, bit_width=bit_width, round_mode=mode)
    assert np.array_equal(fq, back)
    unsigned = fo.float2fix(x, fix_point=fix_point, bit_width=bit_width, round_mode=mode,
                            if_signed=False)
    assert unsigned.min() >= 0
