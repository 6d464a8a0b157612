"""The arithmetic every compute instruction shares (docs/isa.md §5.1), on top of the xir numerics.

Rules enforced here:

* Accumulators are exact integers (the reference executor sums int64 products; the fast path's float
  sums are exact too, fast/finish.py).
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

The fast path's finishing (fast/finish.py) is the same function where it applies.
"""

from __future__ import annotations

import numpy as np

from xir import fixpoint
from xir.isa import ActType
from xir.kernels.activation import output_fix

from .faults import fault

#: Largest |x * w| of two int8 values.
MAX_PRODUCT = 1 << 14
#: Output fix position used to express output units to output_fix (RELU6 then clamps at 96).
OUTPUT_UNITS_FP = 4

#: Elements finished per call of the xir helpers.
CHUNK_ELEMENTS = 8192

ACT_NAMES = {int(a): a.name for a in ActType}


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
