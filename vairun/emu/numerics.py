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
"""

from __future__ import annotations

import numpy as np

from xir import fixpoint
from xir.isa import ActType
from xir.kernels.activation import output_fix

from .faults import fault

#: Products of two int8 values a float32 dot product may sum exactly (2**14 * 1024 = 2**24).
F32_EXACT_TERMS = 1024
#: Output fix position used to express output units to output_fix (RELU6 then clamps at 96).
OUTPUT_UNITS_FP = 4

ACT_NAMES = {int(a): a.name for a in ActType}


def exact_matmul(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact ``a @ w`` of int8 data: ``a`` [B, M, K], ``w`` [B, K, N] -> int64 [B, M, N]."""
    k = a.shape[-1]
    af = a.astype(np.float32)
    wf = w.astype(np.float32)
    if k <= F32_EXACT_TERMS:
        return np.matmul(af, wf).astype(np.int64)
    acc = np.zeros(a.shape[:-1] + (w.shape[-1],), dtype=np.float64)
    for k0 in range(0, k, F32_EXACT_TERMS):
        acc += np.matmul(af[..., k0:k0 + F32_EXACT_TERMS], wf[..., k0:k0 + F32_EXACT_TERMS, :])
    return acc.astype(np.int64)


def exact_tap_sum(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact depthwise sum over kernel taps: ``x`` [B, M, T, C] int8, ``w`` [B, T, C] int8 ->
    int64 [B, M, C] (``sum_t x[b, m, t, c] * w[b, t, c]``)."""
    dtype = np.float32 if x.shape[2] <= F32_EXACT_TERMS else np.float64
    out = np.einsum("bmtc,btc->bmc", x.astype(dtype), w.astype(dtype))
    return out.astype(np.int64)


def add_bias(acc: np.ndarray, bias: np.ndarray, shift_bias: int, shift_cut: int) -> tuple[np.ndarray, int]:
    """Exact ``(acc + bias * 2**shift_bias) / 2**shift_cut`` as ``(n, e)`` with value ``n * 2**-e``."""
    try:
        if shift_bias >= 0:
            return acc + fixpoint.shift_left(bias, shift_bias), shift_cut
        return fixpoint.shift_left(acc, -shift_bias) + bias, shift_cut - shift_bias
    except (OverflowError, ValueError) as exc:
        raise fault(f"bias alignment overflows: {exc}") from None


def finish(n: np.ndarray, e: int, act: int) -> np.ndarray:
    """Activation, one DPU_ROUND rounding and int8 saturation of ``n * 2**-e`` output units
    (act NONE, RELU, LEAKYRELU or RELU6)."""
    try:
        return output_fix(n, e + OUTPUT_UNITS_FP, fp_out=OUTPUT_UNITS_FP, nonlinear=ACT_NAMES[act])
    except (OverflowError, ValueError) as exc:
        raise fault(f"cannot finish the result at shift {e} with {ACT_NAMES[act]}: {exc}") from None


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
