"""The fast finishing path and exact float reductions (no contract rule: a speed device whose results
are those of the reference finishing in vairun/emu/numerics.py).

Rules:

* Product sums are exact. Products of two int8 values are at most 2**14 in magnitude, so a float32
  dot product of at most 1024 terms never leaves the range where float32 holds every integer
  (2**24); longer reductions are cut into chunks of 1024 terms whose (exact) float32 results are
  summed in float64 (exact below 2**53). The math therefore goes to BLAS and stays bit-exact.
* :class:`FastFinish`, built by :func:`fast_finish` once per plan, computes the function of
  :func:`vairun.emu.numerics.finish_biased` / :func:`~vairun.emu.numerics.finish` without the
  reference's per-call validation, in float32/float64 where every value is an exactly
  representable integer multiple of a power of two, else in int64; it exists only for (accumulator
  bound, shifts, activation) where the reference cannot raise, so the two are the same function of
  their inputs (tests/vairun/test_emu_numerics.py checks it on random values, every tie and both
  saturation edges). Everything else takes the reference.
"""

from __future__ import annotations

import numpy as np

from xir import fixpoint
from xir.isa import ActType

from ..numerics import MAX_PRODUCT

#: Products of two int8 values a float32 dot product may sum exactly (2**14 * 1024 = 2**24).
F32_EXACT_TERMS = (1 << 24) // MAX_PRODUCT

def exact_tap_sum(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact depthwise sum over kernel taps: ``x`` [B, M, T, C] float32 holding int8 values, ``w``
    [B, T, C] int8 -> int64 [B, M, C] (``sum_t x[b, m, t, c] * w[b, t, c]``)."""
    if x.shape[2] <= F32_EXACT_TERMS:
        out = np.einsum("bmtc,btc->bmc", x, w.astype(np.float32))
    else:
        out = np.einsum("bmtc,btc->bmc", x.astype(np.float64), w.astype(np.float64))
    return out.astype(np.int64)


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


INT32_MAX = (1 << 31) - 1


class Int32Finish:
    """The :class:`FastFinish` arithmetic (NONE, RELU, RELU6) on int32 accumulators, in place.

    With ``n = acc * 2**a + bias * 2**b`` and ``h = 2**(e-1)``: for ``e >= 1`` the result is
    ``clamp((n + h) >> e, lo, hi)`` (an arithmetic shift is a floor division, so this is DPU_ROUND's
    ``floor(n / 2**e + 1/2)``); for ``e <= 0`` it is ``clamp(n * 2**-e, lo, hi)``. Computed as
    ``acc << pre``, ``+ offsets``, ``>> post``, clip, where the offsets (``bias * 2**(b + pre - a) +
    h``) hold the bias. Built (:func:`int32_finish`) only when every intermediate stays below 2**31
    for ``|acc| <= acc_bound``, so no step wraps.
    """

    __slots__ = ("pre", "post", "bias_shift", "h", "lo", "hi")

    def __init__(self, pre: int, post: int, bias_shift: int, h: int, lo: int, hi: int):
        self.pre, self.post, self.bias_shift, self.h, self.lo, self.hi = pre, post, bias_shift, h, lo, hi

    def offsets(self, bias) -> np.ndarray:
        """int32 offsets for integer biases ``bias`` (broadcast against the output channels)."""
        return (np.left_shift(np.asarray(bias, np.int64), self.bias_shift) + self.h).astype(np.int32)

    def apply(self, acc: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> np.ndarray:
        """int8 results into ``out`` from int32 accumulators ``acc`` (overwritten) and int32
        ``offsets`` broadcast against them; ``out`` holds ``acc.size`` elements in any shape (a
        strided view included), filled in C order."""
        if self.pre:
            np.left_shift(acc, self.pre, out=acc)
        np.add(acc, offsets, out=acc)
        if self.post:
            np.right_shift(acc, self.post, out=acc)
        np.clip(acc.reshape(out.shape), self.lo, self.hi, out=out, casting="unsafe")
        return out


def int32_finish(ff: FastFinish | None, acc_bound: int) -> Int32Finish | None:
    """The :class:`Int32Finish` of ``ff`` for accumulators ``|acc| <= acc_bound``, or None (LEAKYRELU,
    or an intermediate that could reach 2**31: the caller finishes with ``ff.apply``)."""
    if ff is None or ff.act == ActType.LEAKYRELU:
        return None
    a, b, e = ff.a, ff.b, ff.e
    bias_bound = 128 << b
    if e >= 1:
        h = 1 << (e - 1)
        if (acc_bound << a) + bias_bound + h > INT32_MAX:
            return None
        return Int32Finish(a, e, b, h, ff.lo, ff.hi)
    if ((acc_bound << a) + bias_bound) << -e > INT32_MAX:
        return None
    return Int32Finish(a - e, 0, b - e, 0, ff.lo, ff.hi)
