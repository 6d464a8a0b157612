"""Golden tests of concat_fix against exact rationals."""

from fractions import Fraction

import numpy as np
import pytest

from xir.kernels import concat_fix
from test_kernel_refs import MODES, pow2, rand_int, ref_quant


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bit_width", [4, 8, 16])
def test_concat_requantizes_each_input(mode, bit_width):
    rng = np.random.default_rng(bit_width)
    xs = [rand_int(rng, (1, 3, 4, c), bit_width) for c in (3, 5, 1)]
    fps = [5, 2, 3]
    got = concat_fix(xs, fps_in=fps, fp_out=3, axis=-1, bit_width=bit_width, round_mode=mode)
    assert got.shape == (1, 3, 4, 9)
    want = np.concatenate(
        [np.vectorize(lambda q, f=f: ref_quant(Fraction(int(q)) * pow2(-f), 3, bit_width, mode))(a)
         for a, f in zip(xs, fps)],
        axis=-1,
    )
    assert np.array_equal(got, want)


def test_concat_equal_positions_is_identity():
    rng = np.random.default_rng(0)
    xs = [rand_int(rng, (2, 3, 3, 4)) for _ in range(3)]
    got = concat_fix(xs, fps_in=[4, 4, 4], fp_out=4, axis=1)
    assert np.array_equal(got, np.concatenate(xs, axis=1))


def test_concat_validation():
    a = np.zeros((1, 2, 2, 3), np.int8)
    with pytest.raises(ValueError, match="does not match input 0"):
        concat_fix([a, np.zeros((1, 3, 2, 3), np.int8)], fps_in=[0, 0], fp_out=0)
    with pytest.raises(ValueError, match="fix positions"):
        concat_fix([a, a], fps_in=[0], fp_out=0)
    with pytest.raises(ValueError, match="out of range"):
        concat_fix([a, a], fps_in=[0, 0], fp_out=0, axis=4)
