"""Independent oracle for the golden kernel tests: exact rationals (fractions.Fraction) and a
rounding function written from the definitions, sharing no code with xir.fixpoint.

The other test_kernel_* files import these helpers; the tests here pin the oracle itself to
hand-computed values so a broken oracle cannot silently agree with a broken kernel.
"""

from fractions import Fraction
import math

import numpy as np

HALF = Fraction(1, 2)
MODES = ("DPU_ROUND", "STD_ROUND", "PY3_ROUND")
NONLINEAR_NAMES = ("NONE", "RELU", "RELU6", "LEAKYRELU", "HSIGMOID", "HSWISH")


def pow2(k: int) -> Fraction:
    """2**k as an exact rational (k may be negative)."""
    return Fraction(2) ** k


def ref_round(v: Fraction, mode: str) -> int:
    """Round a rational to an integer; only exact halves depend on the mode."""
    v = Fraction(v)
    fl = math.floor(v)
    d = v - fl
    if d > HALF:
        return fl + 1
    if d < HALF:
        return fl
    if mode == "DPU_ROUND":  # toward +inf
        return fl + 1
    if mode == "STD_ROUND":  # away from zero
        return fl + 1 if v > 0 else fl
    if mode == "PY3_ROUND":  # to even
        return fl if fl % 2 == 0 else fl + 1
    raise AssertionError(mode)


def ref_clamp(q: int, bit_width: int, signed: bool = True) -> int:
    if signed:
        lo, hi = -(2 ** (bit_width - 1)), 2 ** (bit_width - 1) - 1
    else:
        lo, hi = 0, 2**bit_width - 1
    return min(max(q, lo), hi)


def ref_quant(v: Fraction, fp_out: int, bit_width: int = 8, mode: str = "DPU_ROUND") -> int:
    """Exact value -> saturated integer at fp_out."""
    return ref_clamp(ref_round(Fraction(v) * pow2(fp_out), mode), bit_width)


def ref_nonlinear(v: Fraction, name: str) -> Fraction:
    """The nonlinearities as written in the contract, on exact rationals."""
    if name == "NONE":
        return v
    if name == "RELU":
        return max(v, Fraction(0))
    if name == "RELU6":
        return min(max(v, Fraction(0)), Fraction(6))
    if name == "LEAKYRELU":
        return v if v >= 0 else v * Fraction(26, 256)
    hs = min(max(v + 3, Fraction(0)), Fraction(6)) * Fraction(2731, 16384)
    if name == "HSIGMOID":
        return hs
    if name == "HSWISH":
        gate = ref_clamp(ref_round(hs * 128, "DPU_ROUND"), 8)
        return v * Fraction(gate, 128)
    raise AssertionError(name)


def ref_out(v: Fraction, name: str, fp_out: int, bit_width: int, mode: str) -> int:
    return ref_quant(ref_nonlinear(v, name), fp_out, bit_width, mode)


def ref_factor_shift(kh: int, kw: int) -> tuple[int, int]:
    """The avg-pool divisor pair, derived from the rule with rationals (table, then search)."""
    table = {3: (7, 6), 5: (10, 8), 6: (7, 8), 7: (21, 10), 14: (21, 12)}
    if kh == kw and kh in table:
        return table[kh]
    n = kh * kw
    limit = 0
    while 2**limit < n * 128:  # smallest integer >= log2(n*128)
        limit += 1
    best = None
    for shift in range(limit):
        factor = ref_round(Fraction(2**shift, n), "DPU_ROUND")
        if factor < 1:
            continue
        err = abs(Fraction(factor, 2**shift) - Fraction(1, n))
        if best is None or err < best[0]:
            best = (err, factor, shift)
    return best[1], best[2]


def rand_int(rng, shape, bit_width: int = 8) -> np.ndarray:
    lo, hi = -(2 ** (bit_width - 1)), 2 ** (bit_width - 1)
    dtype = np.int8 if bit_width <= 8 else np.int16
    return rng.integers(lo, hi, size=shape).astype(dtype)


def to_obj(a) -> np.ndarray:
    """Python-int object array (no overflow in the oracle loops)."""
    return np.asarray(a).astype(object)


# ---- tests of the oracle itself -------------------------------------------------------------


def test_ref_round_hand_values():
    cases = {
        Fraction(5, 2): (3, 3, 2),
        Fraction(-5, 2): (-2, -3, -2),
        Fraction(1, 2): (1, 1, 0),
        Fraction(-1, 2): (0, -1, 0),
        Fraction(3, 2): (2, 2, 2),
        Fraction(-3, 2): (-1, -2, -2),
        Fraction(7, 3): (2, 2, 2),
        Fraction(-7, 3): (-2, -2, -2),
        Fraction(5, 3): (2, 2, 2),
    }
    for v, want in cases.items():
        assert tuple(ref_round(v, m) for m in MODES) == want, v


def test_ref_round_py3_agrees_with_python_round():
    for num in range(-40, 41):
        v = Fraction(num, 4)
        assert ref_round(v, "PY3_ROUND") == round(v)


def test_ref_nonlinear_hand_values():
    assert ref_nonlinear(Fraction(-4), "LEAKYRELU") == Fraction(-104, 256)
    assert ref_nonlinear(Fraction(7), "RELU6") == 6
    assert ref_nonlinear(Fraction(0), "HSIGMOID") == Fraction(3 * 2731, 16384)
    # gate of a large input saturates at 127/128
    assert ref_nonlinear(Fraction(4), "HSWISH") == Fraction(4 * 127, 128)
    # hsigmoid(-1) = 2 * 2731 / 16384; * 128 = 42.67 -> gate 43
    assert ref_nonlinear(Fraction(-1), "HSWISH") == Fraction(-43, 128)


def test_ref_factor_shift_table_and_powers_of_two():
    assert ref_factor_shift(3, 3) == (7, 6)
    assert ref_factor_shift(14, 14) == (21, 12)
    assert ref_factor_shift(2, 2) == (1, 2)
    assert ref_factor_shift(1, 1) == (1, 0)
    assert ref_factor_shift(1, 3) == (85, 8)  # 85/256 is the closest pair with shift < 9
