"""The arithmetic every compute instruction shares (docs/isa.md §5.1), on top of the xir numerics.

Rules enforced here:

* Product sums are exact. Products of two int8 values are at most 2**14 in magnitude, so a float32
  dot product of at most 1024 terms never leaves the range where float32 holds every integer
  (2**24); longer reductions are cut into chunks of 1024 terms whose (exact) float32 results are
  summed in float64 (exact below 2**53). The math therefore goes to BLAS and stays bit-exact.
* A value in *output units* ``v = n * 2**-e`` is finished by the xir reference code
  (:func:`xir.kernels.activation.output_fix`): the activation applied exactly, ONE rounding with
  DPU_ROUND, saturation to int8. The emulator passes it as scale ``e + 4`` with output fix position
  4, so RELU6 clamps at 6.0 * 2**4 = 96 output units, the hardware rule (docs §5.1); NONE, RELU and
  LEAKYRELU do not depend on that offset.
* A bias is aligned exactly: ``acc + bias * 2**shift_bias``; with a negative shift_bias the
  accumulator is shifted left instead (``acc * 2**-shift_bias + bias`` at scale
  ``shift_cut - shift_bias``), which is what the reference kernels compute.
* A numeric overflow of the int64 helpers is a fault, never a wrapped value.

Finishing runs over chunks of at most 8192 elements, so the int64 temporaries of the xir helpers
stay small (large temporaries cost more in fresh-page faults than in arithmetic).

The fast path (:class:`FastFinish`, built by :func:`fast_finish` once per plan) computes the same
function without the reference's per-call validation, in float32/float64 where every value is an
exactly representable integer multiple of a power of two, else in int64; it exists only for
(accumulator bound, shifts, activation) where the reference cannot raise, so the two are the same
function of their inputs (tests/vairun/test_emu_numerics.py checks it on random values, every tie
and both saturation edges). Everything else takes the reference.
"""

from __future__ import annotations

import numpy as np

from xir import fixpoint
from xir.isa import ActType
from xir.kernels.activation import output_fix

from .faults import fault

#: Largest |x * w| of two int8 values.
MAX_PRODUCT = 1 << 14
#: Products of two int8 values a float32 dot product may sum exactly (2**14 * 1024 = 2**24).
F32_EXACT_TERMS = (1 << 24) // MAX_PRODUCT
#: Output fix position used to express output units to output_fix (RELU6 then clamps at 96).
OUTPUT_UNITS_FP = 4

#: Elements finished per call of the xir helpers.
CHUNK_ELEMENTS = 8192

ACT_NAMES = {int(a): a.name for a in ActType}


def exact_tap_sum(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact depthwise sum over kernel taps: ``x`` [B, M, T, C] float32 holding int8 values, ``w``
    [B, T, C] int8 -> int64 [B, M, C] (``sum_t x[b, m, t, c] * w[b, t, c]``)."""
    if x.shape[2] <= F32_EXACT_TERMS:
        out = np.einsum("bmtc,btc->bmc", x, w.astype(np.float32))
    else:
        out = np.einsum("bmtc,btc->bmc", x.astype(np.float64), w.astype(np.float64))
    return out.astype(np.int64)


def add_bias(acc: np.ndarray, bias: np.ndarray, shift_bias: int, shift_cut: int) -> tuple[np.ndarray, int]:
    """Exact ``(acc + bias * 2**shift_bias) / 2**shift_cut`` as ``(n, e)`` with value ``n * 2**-e``."""
    try:
        if shift_bias >= 0:  # an int8 bias shifted by at most 31 bits cannot overflow int64
            return acc + np.left_shift(bias, shift_bias), shift_cut
        return fixpoint.shift_left(acc, -shift_bias) + bias, shift_cut - shift_bias
    except (OverflowError, ValueError) as exc:
        raise fault(f"bias alignment overflows: {exc}") from None


def finish(n: np.ndarray, e: int, act: int) -> np.ndarray:
    """Activation, one DPU_ROUND rounding and int8 saturation of ``n * 2**-e`` output units
    (act NONE, RELU, LEAKYRELU or RELU6); same shape as ``n``."""
    name = ACT_NAMES[act]
    flat = n.reshape(-1)
    try:
        if flat.size <= CHUNK_ELEMENTS:
            return output_fix(n, e + OUTPUT_UNITS_FP, fp_out=OUTPUT_UNITS_FP, nonlinear=name)
        out = np.empty(flat.size, dtype=np.int8)
        for c0 in range(0, flat.size, CHUNK_ELEMENTS):
            out[c0:c0 + CHUNK_ELEMENTS] = output_fix(flat[c0:c0 + CHUNK_ELEMENTS], e + OUTPUT_UNITS_FP,
                                                     fp_out=OUTPUT_UNITS_FP, nonlinear=name)
        return out.reshape(n.shape)
    except (OverflowError, ValueError) as exc:
        raise fault(f"cannot finish the result at shift {e} with {name}: {exc}") from None


def finish_biased(acc: np.ndarray, bias: np.ndarray, rows_per_image: int, shift_bias: int, shift_cut: int,
                  act: int) -> np.ndarray:
    """Finish exact accumulators ``acc`` [B * rows_per_image, N] (float holding integers) with the
    per-image biases ``bias`` [B, N]: ``(acc + bias * 2**shift_bias) / 2**shift_cut``, activation,
    one rounding, int8 saturation -> int8 [B * rows_per_image, N]."""
    total, ncols = acc.shape
    out = np.empty((total, ncols), dtype=np.int8)
    step = max(1, CHUNK_ELEMENTS // max(ncols, 1))
    for r0 in range(0, total, step):
        r1 = min(r0 + step, total)
        first, last = r0 // rows_per_image, (r1 - 1) // rows_per_image
        if first == last:
            b = bias[first]
        else:
            b = bias[np.arange(r0, r1) // rows_per_image]
        n, e = add_bias(acc[r0:r1].astype(np.int64), b, shift_bias, shift_cut)
        out[r0:r1] = finish(n, e, act)
    return out


def finish_hsigmoid(n: np.ndarray, shift_cut: int, fp_in: int, fp_out: int, act: int) -> np.ndarray:
    """HSIGMOID/HSWISH: ``x = n / 2**shift_cut`` read at fix position ``fp_in``, the result rounded
    once to fix position ``fp_out`` (the reference kernel's hard-sigmoid / hard-swish)."""
    try:
        return output_fix(n, shift_cut + fp_in, fp_out=fp_out, nonlinear=ACT_NAMES[act])
    except (OverflowError, ValueError) as exc:
        raise fault(f"cannot finish {ACT_NAMES[act]} at shift {shift_cut}: {exc}") from None


def finish_prelu(n: np.ndarray, slope: np.ndarray, shift_p: int, shift_n: int) -> np.ndarray:
    """PRELU: ``n / 2**shift_p`` where ``n >= 0``, else ``n * slope / 2**shift_n``; both brought
    exactly to the finer scale, then one DPU_ROUND rounding and int8 saturation."""
    e = max(shift_p, shift_n)
    try:
        pos = fixpoint.shift_left(n, e - shift_p)
        neg = fixpoint.shift_left(n * slope, e - shift_n)
        return fixpoint.requantize(np.where(n >= 0, pos, neg), e, 0)
    except (OverflowError, ValueError) as exc:
        raise fault(f"cannot finish PRELU at shifts {shift_p}/{shift_n}: {exc}") from None


# ------------------------------------------------------------------------------------------------
# the fast finishing path
# ------------------------------------------------------------------------------------------------

#: Largest integer magnitude every float32 / float64 represents exactly (with all smaller ones).
F32_EXACT = 1 << 24
F64_EXACT = 1 << 53
#: Scales the fast path accepts (a margin inside the reference's [-62, 62] shift range).
FAST_MAX_SCALE = 40
#: Largest |value| * 2**8 * 2**max(0, -e) the fast path accepts (a margin inside int64).
FAST_MAX_MAGNITUDE = 1 << 62

INT64_MAX = (1 << 63) - 1

#: Output clamp of the float-route activations (output units: RELU6 clamps at 96, docs §5.1).
_CLAMP = {int(ActType.NONE): (-128, 127), int(ActType.RELU): (0, 127), int(ActType.RELU6): (0, 96)}


class FastFinish:
    """The arithmetic of :func:`finish_biased` / :func:`finish` for one (accumulator bound, shifts,
    activation), without the reference's per-call validation; built only where that validation can
    never fail, so it is the same function.

    The exact value in output units is ``v = (acc * 2**a + bias * 2**b) * 2**-e`` (``a, b >= 0``, at
    most one of them nonzero: a negative ``shift_bias`` shifts the accumulator, a positive one the
    bias), with ``|acc| <= acc_bound``. The reference (``add_bias`` then
    ``output_fix(n, e + 4, fp_out=4)``) computes, with ``n = acc * 2**a + bias * 2**b``:

    * NONE, RELU, RELU6: ``clamp(floor(v + 1/2), lo, hi)`` with ``(lo, hi)`` = (-128, 127), (0, 127),
      (0, 96). DPU_ROUND is ``floor(n / 2**e + 1/2)`` (``round_shift``: ``f + (r >= 2**(e-1))``),
      and since rounding is monotone and maps the integers 0 and 96 to themselves, ``max(v, 0)`` /
      ``min(max(v, 0), 96)`` before it equal clamping after it.
    * LEAKYRELU: ``m = n * 2**8`` where ``n >= 0``, else ``n * 26``; ``clamp(floor(m / 2**(e+8) + 1/2),
      -128, 127)``.

    Two routes compute that exactly:

    * float (NONE, RELU, RELU6): ``t = acc * 2**(a - e) + (bias * 2**b + h) * 2**-e + off`` with
      ``h = 2**(e-1)`` for ``e >= 1`` (else 0) and ``off = 128`` when ``lo < 0`` (else 0), so
      ``t = (n + h) / 2**e + off``, and ``floor(v + 1/2) = floor(t) - off``. Every addend and the sum
      are integers times ``2**-max(e, 0)`` below the dtype's exact-integer bound (checked from
      ``acc_bound``), so every float operation is exact. The result is ``clip(t, lo + off, hi + off)``
      truncated to uint8 (``t >= 0`` there, so truncation is ``floor``), minus ``off`` (``u - 128`` is
      ``u ^ 0x80`` read as int8). ``acc * 2**(a - e)`` may come straight out of a matmul whose weights
      were multiplied by ``2**(a - e)`` (:attr:`acc_scale`): power-of-two scaling is exact, and every
      partial sum is an integer below 2**24 times that power.
    * int64 (LEAKYRELU, and any value too wide for float64): the integer formula above with
      ``floor(m / 2**k + 1/2) = (m + 2**(k-1)) >> k`` (arithmetic shift is floor division), or
      ``m << -k`` for ``k <= 0``.

    Built (:func:`fast_finish`) only when the reference cannot raise: ``|e| <= 40`` and
    ``|n| * 2**(8 + max(0, -e)) < 2**62`` bound every shift the reference checks (``shift_left`` of
    the accumulator for a negative ``shift_bias``, of ``n`` for LEAKYRELU or a negative scale, the
    RELU6 bound ``6 << (e + 4)``, ``round_shift``'s range [-62, 62]).
    """

    __slots__ = ("a", "b", "e", "act", "dtype", "lo", "hi", "off", "acc_scale")

    def __init__(self, a: int, b: int, e: int, act: int, dtype, lo: int, hi: int, off: int):
        self.a, self.b, self.e, self.act, self.dtype = a, b, e, act, dtype
        self.lo, self.hi, self.off = lo, hi, off
        #: factor the accumulator (or the weights of its matmul) is multiplied by on the float route
        self.acc_scale = 2.0 ** (a - e) if dtype is not None else 1.0

    @property
    def is_float(self) -> bool:
        return self.dtype is not None

    def offsets(self, bias) -> np.ndarray:
        """Float route: ``(bias * 2**b + h) * 2**-e + off`` in :attr:`dtype` (exact), for ``bias`` an
        integer array (or None: no bias)."""
        e = self.e
        h = (1 << (e - 1)) if e >= 1 else 0
        base = np.zeros(1, dtype=np.int64) if bias is None else np.left_shift(np.asarray(bias, np.int64), self.b)
        return ((base + h).astype(np.float64) * 2.0 ** -e + self.off).astype(self.dtype)

    def finish_scaled(self, t: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Float route: int8 results from ``t = acc * acc_scale + offsets`` (same shape; ``out`` an
        optional uint8 buffer of that shape)."""
        if out is None:
            out = np.empty(t.shape, dtype=np.uint8)
        np.clip(t, self.lo + self.off, self.hi + self.off, out=out, casting="unsafe")
        if self.off:
            np.bitwise_xor(out, 0x80, out=out)
        return out.view(np.int8)

    def apply(self, acc: np.ndarray, bias=None) -> np.ndarray:
        """int8 results for the exact accumulator ``acc`` (floats holding integers, or integers) and
        ``bias`` (integers broadcast against ``acc``, or None)."""
        if self.dtype is not None:
            t = np.multiply(acc, self.dtype(self.acc_scale), dtype=self.dtype)
            t += self.offsets(bias)
            return self.finish_scaled(t)
        n = np.asarray(acc).astype(np.int64)
        if self.a:
            n <<= self.a
        if bias is not None:
            n = n + np.left_shift(np.asarray(bias, np.int64), self.b)
        k = self.e
        if self.act == ActType.LEAKYRELU:
            n = np.where(n >= 0, n << fixpoint.LEAKY_RELU_SHIFT, n * fixpoint.LEAKY_RELU_NUM)
            k += fixpoint.LEAKY_RELU_SHIFT
        if k >= 1:
            q = (n + (1 << (k - 1))) >> k
        else:
            q = n << -k
        return np.clip(q, self.lo, self.hi).astype(np.int8)


def fast_finish(acc_bound: int, shift_bias: int | None, shift_cut: int, act: int) -> FastFinish | None:
    """The :class:`FastFinish` of ``(acc + bias * 2**shift_bias) / 2**shift_cut`` (``shift_bias``
    None: no bias, ``v = acc / 2**shift_cut``) for accumulators ``|acc| <= acc_bound``, or None when
    the reference could raise (then the caller must use :func:`finish_biased` / :func:`finish`).
    The float route takes float32 when every integer it handles is below 2**24, else float64; wider
    values take the int64 route."""
    act = int(act)
    if act not in _CLAMP and act != ActType.LEAKYRELU:
        return None
    if shift_bias is None:
        a = b = 0
        bias_bound = 0
    else:
        a, b = max(0, -shift_bias), max(0, shift_bias)
        bias_bound = 128 << b
        if a > fixpoint.MAX_ROUND_SHIFT or acc_bound > INT64_MAX >> a:
            return None
    e = shift_cut + a
    if not -FAST_MAX_SCALE <= e <= FAST_MAX_SCALE:
        return None
    n_bound = (acc_bound << a) + bias_bound
    if n_bound << (fixpoint.LEAKY_RELU_SHIFT + max(0, -e)) >= FAST_MAX_MAGNITUDE:
        return None
    if act == ActType.LEAKYRELU:
        return FastFinish(a, b, e, act, None, -128, 127, 0)
    lo, hi = _CLAMP[act]
    off = 128 if lo < 0 else 0
    if e >= 1:
        wide = n_bound + (1 << (e - 1)) + (off << e)
    else:
        wide = (n_bound << -e) + off
    for limit, dtype in ((F32_EXACT, np.float32), (F64_EXACT, np.float64)):
        if wide <= limit:
            return FastFinish(a, b, e, act, dtype, lo, hi, off)
    return FastFinish(a, b, e, act, None, lo, hi, 0)


def add_offsets(acc: np.ndarray, offs: np.ndarray) -> np.ndarray:
    """``acc + offs`` for the float route, in place when the dtypes allow (``acc`` must be a fresh
    array the caller owns)."""
    if np.result_type(acc, offs) == acc.dtype:
        return np.add(acc, offs, out=acc)
    return acc + offs
