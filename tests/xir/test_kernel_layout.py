"""Golden tests of the data-movement kernels: pad, upsample, nearest resize, reshape, flatten,
transpose."""

from fractions import Fraction
import math

import numpy as np
import pytest

from xir.kernels import (
    flatten_fix,
    nearest_indices,
    pad_fix,
    reshape_fix,
    resize_nearest_fix,
    transpose_fix,
    upsample_fix,
)
from test_kernel_refs import rand_int


def ref_pad_index(i, before, size, mode):
    """Source index of padded position i along one axis (None = constant)."""
    j = i - before
    if 0 <= j < size:
        return j
    if mode == "CONSTANT":
        return None
    if mode == "REFLECT":
        return -j if j < 0 else 2 * (size - 1) - j
    return -j - 1 if j < 0 else 2 * size - 1 - j  # SYMMETRIC


@pytest.mark.parametrize("mode", ["CONSTANT", "REFLECT", "SYMMETRIC"])
def test_pad_golden(mode):
    x = rand_int(np.random.default_rng(1), (2, 4, 5, 3))
    pads = [(0, 1), (2, 1), (3, 0), (1, 2)]
    got = pad_fix(x, paddings=pads, mode=mode, constant_value=-7)
    assert got.dtype == x.dtype
    shape = tuple(s + b + a for s, (b, a) in zip(x.shape, pads))
    assert got.shape == shape
    for idx in np.ndindex(*shape):
        src = [ref_pad_index(i, b, s, mode) for i, (b, _), s in zip(idx, pads, x.shape)]
        want = -7 if None in src else x[tuple(src)]
        assert got[idx] == want, idx


def test_pad_validation():
    x = np.zeros((1, 3, 3, 2), np.int8)
    with pytest.raises(ValueError, match="exceeds"):
        pad_fix(x, paddings=[(0, 0), (3, 0), (0, 0), (0, 0)], mode="REFLECT")
    assert pad_fix(x, paddings=[(0, 0), (3, 0), (0, 0), (0, 0)], mode="SYMMETRIC").shape[1] == 6
    with pytest.raises(ValueError, match="unknown pad mode"):
        pad_fix(x, paddings=[(0, 0)] * 4, mode="EDGE")
    with pytest.raises(ValueError, match="4 non-negative"):
        pad_fix(x, paddings=[(0, 0)] * 3)
    with pytest.raises(ValueError, match="does not fit"):
        pad_fix(x, paddings=[(0, 0)] * 4, constant_value=300)


def test_upsample_golden():
    x = rand_int(np.random.default_rng(2), (1, 3, 5, 2))
    got = upsample_fix(x, scale=(3, 2))
    assert got.shape == (1, 6, 15, 2)
    for n, y, xx, c in np.ndindex(*got.shape):
        assert got[n, y, xx, c] == x[n, y // 2, xx // 3, c]
    with pytest.raises(ValueError, match="NEAREST"):
        upsample_fix(x, scale=(2, 2), mode="BILINEAR")


def ref_nearest(i, n_in, n_out, align_corners, half_pixel):
    if align_corners:
        if n_out == 1:
            return 0
        v = Fraction(i * (n_in - 1), n_out - 1)
        src = math.floor(v + Fraction(1, 2))
    elif half_pixel:
        src = math.floor((i + Fraction(1, 2)) * Fraction(n_in, n_out))
    else:
        src = math.floor(Fraction(i * n_in, n_out))
    return min(src, n_in - 1)


@pytest.mark.parametrize("flags", [(False, False), (True, False), (False, True)])
def test_nearest_indices_all_sizes(flags):
    for n_in in range(1, 12):
        for n_out in range(1, 25):
            got = nearest_indices(n_in, n_out, *flags).tolist()
            assert got == [ref_nearest(i, n_in, n_out, *flags) for i in range(n_out)]


def test_nearest_indices_known_examples():
    assert nearest_indices(2, 4).tolist() == [0, 0, 1, 1]
    assert nearest_indices(3, 2, half_pixel_centers=True).tolist() == [0, 2]
    assert nearest_indices(3, 5, align_corners=True).tolist() == [0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="cannot both"):
        nearest_indices(3, 5, True, True)


def test_resize_nearest_gathers_rows_and_columns():
    x = rand_int(np.random.default_rng(3), (2, 3, 4, 2))
    got = resize_nearest_fix(x, size=(7, 5), half_pixel_centers=True)
    assert got.shape == (2, 5, 7, 2)
    ys = [ref_nearest(i, 3, 5, False, True) for i in range(5)]
    xs = [ref_nearest(i, 4, 7, False, True) for i in range(7)]
    for n, y, xx, c in np.ndindex(*got.shape):
        assert got[n, y, xx, c] == x[n, ys[y], xs[xx], c]
    # an integer scale equals upsample
    assert np.array_equal(resize_nearest_fix(x, size=(8, 6)), upsample_fix(x, scale=(2, 2)))


def test_reshape_flatten_transpose():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.int16).reshape(2, 3, 4, 5)
    assert np.array_equal(reshape_fix(x, (2, -1)), x.reshape(2, 60))
    assert flatten_fix(x).shape == (2, 60)
    assert flatten_fix(x, 1, 2).shape == (2, 12, 5)
    assert flatten_fix(x, 0, -1).shape == (120,)
    assert np.array_equal(flatten_fix(x, 2), x.reshape(2, 3, 20))
    t = transpose_fix(x, (0, 3, 1, 2))
    assert t.shape == (2, 5, 3, 4)
    assert t[1, 4, 2, 3] == x[1, 2, 3, 4]
    with pytest.raises(ValueError, match="permutation"):
        transpose_fix(x, (0, 1, 1, 2))
    with pytest.raises(ValueError, match="cannot reshape"):
        reshape_fix(x, (7, -1))
    with pytest.raises(ValueError, match="after end_axis"):
        flatten_fix(x, 3, 1)
