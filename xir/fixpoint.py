"""Fixed-point numerics shared by the quantizer, the compiler and the runtime.

A quantized value is ``q * 2**-fix_pos`` with ``q`` a signed (or unsigned) integer of ``bit_width``
bits.  This module defines, once for the whole project:

* the three rounding modes (``DPU_ROUND``, ``STD_ROUND``, ``PY3_ROUND``) for floats
  (:func:`round_half`) and for integers divided by a power of two (:func:`round_shift`, the single
  integer rounding primitive every kernel and the DPU emulator use);
* float <-> fixed conversion (:func:`quantize`, :func:`dequantize`, :func:`fake_quantize`);
* saturation and requantization of exact integer values (:func:`saturate`, :func:`requantize`);
* the hardware approximation constants (leaky-ReLU slope, hard-sigmoid factor, hard-swish gate,
  average-pool factor/shift table);
* the DPU shift-range constraints as checks that return human-readable violations.

Only numpy and the standard library are used; every function here is exact (no float rounding
anywhere except the single documented rounding of each function).
"""

from __future__ import annotations

import math
import operator

import numpy as np

__all__ = [
    "ROUND_MODES",
    "LEAKY_RELU_NUM",
    "LEAKY_RELU_SHIFT",
    "HSIGMOID_NUM",
    "HSIGMOID_SHIFT",
    "HSWISH_GATE_FIX_POS",
    "HSWISH_GATE_BIT_WIDTH",
    "MAX_FIX_POS_8BIT",
    "MAX_ROUND_SHIFT",
    "AVGPOOL_TABLE",
    "AVGPOOL_FACTOR_MAX",
    "check_round_mode",
    "round_half",
    "qrange",
    "int_dtype",
    "quantize",
    "dequantize",
    "fake_quantize",
    "round_shift",
    "shift_left",
    "saturate",
    "requantize",
    "avgpool_factor_shift",
    "shift_cut_range",
    "shift_bias_range",
    "shift_read_range",
    "shift_write_range",
    "eltwise_mul_shift_range",
    "hsigmoid_fp_in_range",
    "hsigmoid_fp_out_min",
    "check_conv_shifts",
    "check_eltwise_add_shifts",
    "check_eltwise_mul_shifts",
    "check_hsigmoid_shifts",
    "check_concat_fix",
    "check_same_fix",
]

ROUND_MODES = ("DPU_ROUND", "STD_ROUND", "PY3_ROUND")

# LeakyReLU: the DPU replaces any slope by 26/256 = 0.1015625 (negative side: v * 26 / 2**8).
LEAKY_RELU_NUM = 26
LEAKY_RELU_SHIFT = 8
# Hard-sigmoid: relu6(v + 3) * 2731 / 2**14 (2731 / 16384 ~= 1/6).
HSIGMOID_NUM = 2731
HSIGMOID_SHIFT = 14
# Hard-swish: v * g with g = hard-sigmoid(v) rounded once (DPU_ROUND) to a signed 8-bit value at
# fix position 7, i.e. g in {0, 1/128, ..., 127/128}.
HSWISH_GATE_FIX_POS = 7
HSWISH_GATE_BIT_WIDTH = 8
# An activation standing alone (not fused into a conv / eltwise) runs as an identity 1x1 depthwise
# conv whose int8 weights are 1 at this fix position (xir.transforms.fold_fix), so it obeys the conv
# shift ranges with fp_w = 0.
IDENTITY_WEIGHT_FIX_POS = 0
# Calibration cap (vaiq): no fix position above 12 is chosen for bit widths <= 8.
MAX_FIX_POS_8BIT = 12
# Fix positions a tensor may carry: steps from 2^-32 to 2^32 (calibration of any float32 tensor a model
# computes lands far inside; a position outside is a corrupt file, refused where positions are read).
FIX_POS_LIMIT = 32
# round_shift accepts shifts in [-MAX_ROUND_SHIFT, MAX_ROUND_SHIFT] (int64 arithmetic).
MAX_ROUND_SHIFT = 62

# Average pooling: fixed (factor, shift) pairs of the hardware for these square kernels.
AVGPOOL_TABLE = {
    (3, 3): (7, 6),
    (5, 5): (10, 8),
    (6, 6): (7, 8),
    (7, 7): (21, 10),
    (14, 14): (21, 12),
}
# The ALU instruction stores the factor in an 8-bit field.
AVGPOOL_FACTOR_MAX = 255

_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


# ---------------------------------------------------------------------------------------------
# argument helpers
# ---------------------------------------------------------------------------------------------


def check_round_mode(mode: str) -> str:
    """Return ``mode`` if it is one of ROUND_MODES, else raise ValueError naming the valid ones."""
    if not isinstance(mode, str) or mode not in ROUND_MODES:
        raise ValueError(
            f"unknown round_mode {mode!r}; use one of {', '.join(ROUND_MODES)}"
        )
    return mode


def _as_int(value, name: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def int_array(x, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``x`` as a numpy array in its own integer dtype; ValueError for non-integer data (booleans
    included) or a rank other than ``ndim``. The one integer-array check of the project."""
    arr = np.asarray(x)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers (quantized values), got dtype {arr.dtype}; quantize it "
                         "with xir.fixpoint.quantize first")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have rank {want}, got shape {arr.shape}")
    return arr


def as_int64(x, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """:func:`int_array` converted to int64; OverflowError for uint64 values beyond its range."""
    arr = int_array(x, name, ndim)
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > _INT64_MAX:
        raise OverflowError(f"{name} holds values above the int64 range")
    return arr.astype(np.int64, copy=False)




# ---------------------------------------------------------------------------------------------
# rounding
# ---------------------------------------------------------------------------------------------


def round_half(x, mode: str) -> np.ndarray:
    """Round float values to integral float64 values; ``mode`` decides only the exact .5 ties.

    DPU_ROUND: ties toward +inf (2.5 -> 3, -2.5 -> -2); STD_ROUND: ties away from zero
    (2.5 -> 3, -2.5 -> -3); PY3_ROUND: ties to even (2.5 -> 2, -2.5 -> -2).  Non-ties go to the
    nearest integer.  Exact for every float64 (the fractional part ``x - trunc(x)`` is exact).
    """
    check_round_mode(mode)
    x = np.asarray(x, dtype=np.float64)
    nearest = np.rint(x)  # ties to even
    if mode == "PY3_ROUND":
        return nearest + 0.0
    with np.errstate(invalid="ignore"):
        whole = np.trunc(x)
        tie = np.abs(x - whole) == 0.5
    if not np.any(tie):
        return nearest + 0.0  # + 0.0 turns -0.0 into 0.0
    if mode == "DPU_ROUND":
        tie_value = x + 0.5  # exact: x = k + 0.5 with |x| < 2**52
    else:  # STD_ROUND
        tie_value = whole + np.sign(x)
    return np.where(tie, tie_value, nearest) + 0.0


def shift_left(n, k: int) -> np.ndarray:
    """Exact ``n * 2**k`` for integers ``n`` and ``k >= 0`` in int64; OverflowError on overflow."""
    k = _as_int(k, "shift")
    if k < 0:
        raise ValueError(f"shift_left needs a shift >= 0, got {k}")
    n = as_int64(n, "n")
    if k == 0:
        return n.copy()
    if k > MAX_ROUND_SHIFT:
        if np.any(n != 0):
            raise OverflowError(f"shifting left by {k} bits overflows int64")
        return np.zeros_like(n)
    if n.size:
        if int(n.max()) > (_INT64_MAX >> k) or int(n.min()) < (_INT64_MIN >> k):
            raise OverflowError(
                f"shifting left by {k} bits overflows int64 (|n| up to {int(np.abs(n).max())})"
            )
    return np.left_shift(n, k)


def round_shift(n, shift, mode: str = "DPU_ROUND") -> np.ndarray:
    """Exact ``round(n / 2**shift)`` in int64 using integer arithmetic only.

    ``shift > 0`` divides and rounds (the ``mode`` decides ties exactly as :func:`round_half`);
    ``shift <= 0`` multiplies by ``2**-shift`` (exact; OverflowError if int64 overflows).
    ``shift`` is an int or an integer array broadcast against ``n``; it must lie in
    [-62, 62].  This is the one integer rounding primitive of the project.
    """
    check_round_mode(mode)
    n = as_int64(n, "n")
    s = as_int64(shift, "shift")
    if s.size and (int(s.max()) > MAX_ROUND_SHIFT or int(s.min()) < -MAX_ROUND_SHIFT):
        raise ValueError(
            f"shift must lie in [-{MAX_ROUND_SHIFT}, {MAX_ROUND_SHIFT}], got values in "
            f"[{int(s.min())}, {int(s.max())}]"
        )
    if s.ndim == 0:
        k = int(s)
        if k <= 0:
            return shift_left(n, -k)
        return _round_right(n, k, mode)
    n, s = np.broadcast_arrays(n, s)
    left = s <= 0
    out = np.empty(n.shape, dtype=np.int64)
    if np.any(left):
        kl = -s[left]
        nl = n[left]
        bound = _INT64_MAX >> kl
        low = _INT64_MIN >> kl
        if np.any(nl > bound) or np.any(nl < low):
            raise OverflowError("shifting left overflows int64")
        out[left] = np.left_shift(nl, kl)
    right = ~left
    if np.any(right):
        out[right] = _round_right(n[right], s[right], mode)
    return out


def _round_right(n: np.ndarray, k, mode: str) -> np.ndarray:
    """round(n / 2**k) for k >= 1 (int or int64 array), integer arithmetic only."""
    one = np.int64(1)
    f = np.right_shift(n, k)  # floor(n / 2**k)
    r = n - np.left_shift(f, k)  # remainder in [0, 2**k)
    half = np.left_shift(one, np.asarray(k, dtype=np.int64) - 1)
    if mode == "DPU_ROUND":
        up = r >= half
    elif mode == "STD_ROUND":
        up = (r > half) | ((r == half) & (n >= 0))
    else:  # PY3_ROUND
        up = (r > half) | ((r == half) & ((f & one) == one))
    return f + up.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# ranges and conversions
# ---------------------------------------------------------------------------------------------


def qrange(bit_width: int, signed: bool = True) -> tuple[int, int]:
    """Integer range (lo, hi) of a ``bit_width``-bit value: signed [-2^(b-1), 2^(b-1)-1], unsigned
    [0, 2^b - 1].  Bit widths 2..16 only."""
    bw = _as_int(bit_width, "bit_width")
    if not 2 <= bw <= 16:
        raise ValueError(f"bit_width must be between 2 and 16, got {bw}")
    if signed:
        return -(1 << (bw - 1)), (1 << (bw - 1)) - 1
    return 0, (1 << bw) - 1


def int_dtype(bit_width: int, signed: bool = True):
    """Storage dtype of a ``bit_width``-bit value: (u)int8 up to 8 bits, (u)int16 up to 16 bits."""
    qrange(bit_width, signed)
    if bit_width <= 8:
        return np.int8 if signed else np.uint8
    return np.int16 if signed else np.uint16


def quantize(x, fix_pos: int, bit_width: int = 8, round_mode: str = "DPU_ROUND",
             signed: bool = True) -> np.ndarray:
    """Float -> integer: ``q = clamp(round(x * 2**fix_pos), lo, hi)`` as int_dtype(bit_width).

    Computed in float64 with an exact power-of-two scaling (np.ldexp), so the only rounding is the
    one of ``round_mode``.  ``fix_pos`` may be negative.  NaN is rejected; +-inf saturate.
    """
    fp = _as_int(fix_pos, "fix_pos")
    lo, hi = qrange(bit_width, signed)
    check_round_mode(round_mode)
    xf = np.asarray(x, dtype=np.float64)
    if np.isnan(xf).any():
        raise ValueError("cannot quantize NaN values; check the producer of this tensor")
    with np.errstate(over="ignore"):
        scaled = np.ldexp(xf, fp)
    q = np.clip(round_half(scaled, round_mode), lo, hi)
    return q.astype(int_dtype(bit_width, signed))


def dequantize(q, fix_pos: int, dtype=np.float32) -> np.ndarray:
    """Integer -> float: ``q * 2**-fix_pos`` (exact power-of-two scaling), cast to ``dtype``."""
    fp = _as_int(fix_pos, "fix_pos")
    qa = as_int64(q, "q")
    return np.ldexp(qa.astype(np.float64), -fp).astype(dtype)


def fake_quantize(x, fix_pos: int, bit_width: int = 8, round_mode: str = "DPU_ROUND",
                  signed: bool = True) -> np.ndarray:
    """``dequantize(quantize(x))``: float in, float out (float64 stays float64, else float32)."""
    xa = np.asarray(x)
    dtype = np.float64 if xa.dtype == np.float64 else np.float32
    return dequantize(quantize(xa, fix_pos, bit_width, round_mode, signed), fix_pos, dtype)


def saturate(n, bit_width: int = 8, signed: bool = True) -> np.ndarray:
    """Clamp integers to the ``bit_width`` range and store them as int_dtype(bit_width)."""
    lo, hi = qrange(bit_width, signed)
    arr = as_int64(n, "n")
    return np.clip(arr, lo, hi).astype(int_dtype(bit_width, signed))


def requantize(n, scale_exp: int, fix_pos_out: int, bit_width: int = 8,
               round_mode: str = "DPU_ROUND", signed: bool = True) -> np.ndarray:
    """Exact value ``n * 2**-scale_exp`` -> integer at ``fix_pos_out``: one rounding, then
    saturation.

    ``saturate(round_shift(n, scale_exp - fix_pos_out, round_mode))``.
    """
    e = _as_int(scale_exp, "scale_exp")
    o = _as_int(fix_pos_out, "fix_pos_out")
    return saturate(round_shift(n, e - o, round_mode), bit_width, signed)


# ---------------------------------------------------------------------------------------------
# average pooling factor
# ---------------------------------------------------------------------------------------------


def avgpool_factor_shift(kh: int, kw: int) -> tuple[int, int]:
    """(factor, shift) with ``factor / 2**shift ~= 1 / (kh * kw)``: the DPU average-pool divisor.

    Rule: the hardware table for square kernels 3, 5, 6, 7, 14 (7/64, 10/256, 7/256, 21/1024,
    21/4096); otherwise, with n = kh*kw, search shift in [0, ceil(log2(n*128))), take
    factor = floor(2**shift / n + 1/2), skip factor 0, and keep the pair with the smallest
    |factor/2**shift - 1/n|; on equal distance the smaller shift wins (so a power of two n gives
    the exact (1, log2 n)).  Because 2**shift < 128*n, the factor never exceeds 128, so it always
    fits the 8-bit multi_factor field (1..255).
    """
    kh = _as_int(kh, "kh")
    kw = _as_int(kw, "kw")
    if kh < 1 or kw < 1:
        raise ValueError(f"pool kernel must be at least 1x1, got {kh}x{kw}")
    if (kh, kw) in AVGPOOL_TABLE:
        return AVGPOOL_TABLE[(kh, kw)]
    n = kh * kw
    limit = math.ceil(math.log2(n * 128))
    best: tuple[int, int] | None = None
    best_err = None
    for shift in range(limit):
        factor = ((1 << (shift + 1)) + n) // (2 * n)  # floor(2**shift / n + 1/2)
        if factor == 0 or factor > AVGPOOL_FACTOR_MAX:
            continue
        # |factor/2^shift - 1/n| compared exactly via a common denominator n * 2^shift
        err_num = abs(factor * n - (1 << shift))
        if best is None or err_num * (1 << best[1]) < best_err * (1 << shift):
            best = (factor, shift)
            best_err = err_num
    assert best is not None  # shift = limit - 1 always gives 64 <= factor <= 128
    return best


# ---------------------------------------------------------------------------------------------
# DPU shift-range constraints
# ---------------------------------------------------------------------------------------------


def shift_cut_range() -> tuple[int, int]:
    """Allowed ``shift_cut = fp_in + fp_w - fp_out`` of conv-like ops: [0, 16]."""
    return (0, 16)


def shift_bias_range(shift_cut: int) -> tuple[int, int]:
    """Allowed ``shift_bias = fp_in + fp_w - fp_b``: [min(0, -(24 - (8 + shift_cut))), 16]."""
    sc = _as_int(shift_cut, "shift_cut")
    return (min(0, -(24 - (8 + sc))), 16)


def shift_read_range() -> tuple[int, int]:
    """Allowed eltwise-add ``shift_read = max(fps_in) - min(fps_in)``: [0, 7]."""
    return (0, 7)


def shift_write_range() -> tuple[int, int]:
    """Allowed eltwise-add ``shift_write = min(fps_in) - fp_out``: [-7, 25]."""
    return (-7, 25)


def eltwise_mul_shift_range() -> tuple[int, int]:
    """Allowed eltwise-mul shift ``sum(fps_in) - fp_out``: [0, 32]."""
    return (0, 32)


def hsigmoid_fp_in_range() -> tuple[int, int]:
    """Allowed input fix position of hard-sigmoid: [0, 15]."""
    return (0, 15)


def hsigmoid_fp_out_min() -> int:
    """Smallest allowed output fix position of hard-sigmoid: 7."""
    return 7


def _outside(value: int, rng: tuple[int, int]) -> bool:
    return not rng[0] <= value <= rng[1]


def check_conv_shifts(fp_in: int, fp_w: int, fp_b: int | None, fp_out: int) -> list[str]:
    """Violations of the conv/dense/depthwise/transposed shift ranges (empty list = accepted).

    shift_cut = fp_in + fp_w - fp_out in [0, 16]; shift_bias = fp_in + fp_w - fp_b in
    shift_bias_range(shift_cut).  ``fp_b=None`` (no bias) skips the bias check.
    """
    i, w, o = (_as_int(v, n) for v, n in ((fp_in, "fp_in"), (fp_w, "fp_w"), (fp_out, "fp_out")))
    problems = []
    sc = i + w - o
    rng = shift_cut_range()
    if _outside(sc, rng):
        problems.append(
            f"shift_cut = fp_in + fp_w - fp_out = {i} + {w} - {o} = {sc} is outside "
            f"[{rng[0]}, {rng[1]}]"
        )
    if fp_b is not None:
        b = _as_int(fp_b, "fp_b")
        sb = i + w - b
        brng = shift_bias_range(sc)
        if _outside(sb, brng):
            problems.append(
                f"shift_bias = fp_in + fp_w - fp_b = {i} + {w} - {b} = {sb} is outside "
                f"[{brng[0]}, {brng[1]}] (for shift_cut {sc})"
            )
    return problems


def _fps(fps_in, what: str) -> list[int]:
    fps = [_as_int(v, "fix position") for v in fps_in]
    if len(fps) < 1:
        raise ValueError(f"{what} needs at least one input fix position")
    return fps


def check_eltwise_add_shifts(fps_in, fp_out: int) -> list[str]:
    """Violations of the eltwise-add ranges: shift_read = max - min of the input positions in
    [0, 7]; shift_write = min(input positions) - fp_out in [-7, 25]."""
    fps = _fps(fps_in, "eltwise add")
    o = _as_int(fp_out, "fp_out")
    problems = []
    sr = max(fps) - min(fps)
    rng = shift_read_range()
    if _outside(sr, rng):
        problems.append(
            f"eltwise add shift_read = max(fps_in) - min(fps_in) = {max(fps)} - {min(fps)} = {sr} "
            f"is outside [{rng[0]}, {rng[1]}]"
        )
    sw = min(fps) - o
    rng = shift_write_range()
    if _outside(sw, rng):
        problems.append(
            f"eltwise add shift_write = min(fps_in) - fp_out = {min(fps)} - {o} = {sw} is "
            f"outside [{rng[0]}, {rng[1]}]"
        )
    return problems


def check_eltwise_mul_shifts(fps_in, fp_out: int) -> list[str]:
    """Violations of the eltwise-mul range: sum(input positions) - fp_out in [0, 32]."""
    fps = _fps(fps_in, "eltwise mul")
    o = _as_int(fp_out, "fp_out")
    s = sum(fps) - o
    rng = eltwise_mul_shift_range()
    if _outside(s, rng):
        return [
            f"eltwise mul shift = sum(fps_in) - fp_out = {sum(fps)} - {o} = {s} is outside "
            f"[{rng[0]}, {rng[1]}]"
        ]
    return []


def check_hsigmoid_shifts(fp_in: int, fp_out: int) -> list[str]:
    """Violations of the hard-sigmoid ranges: fp_in in [0, 15], fp_out >= 7."""
    i = _as_int(fp_in, "fp_in")
    o = _as_int(fp_out, "fp_out")
    problems = []
    rng = hsigmoid_fp_in_range()
    if _outside(i, rng):
        problems.append(f"hard-sigmoid input fix position {i} is outside [{rng[0]}, {rng[1]}]")
    if o < hsigmoid_fp_out_min():
        problems.append(
            f"hard-sigmoid output fix position {o} is below the minimum {hsigmoid_fp_out_min()}"
        )
    return problems


def check_concat_fix(fps_in, fp_out: int) -> list[str]:
    """Violations of the concat rule: every input and the output share one fix position."""
    fps = _fps(fps_in, "concat")
    o = _as_int(fp_out, "fp_out")
    bad = [k for k, f in enumerate(fps) if f != o]
    if bad:
        listed = ", ".join(f"input {k} has {fps[k]}" for k in bad)
        return [f"concat inputs must share the output fix position {o}: {listed}"]
    return []


def check_same_fix(fp_in: int, fp_out: int, op: str) -> list[str]:
    """Violations of the same-position rule of max-pool, pad, slice and nearest resize."""
    i = _as_int(fp_in, "fp_in")
    o = _as_int(fp_out, "fp_out")
    if i != o:
        return [f"{op} must keep its input fix position: fp_in {i} != fp_out {o}"]
    return []
