"""Fused nonlinearities in exact integer form, and the standalone activation kernels.

:func:`apply_nonlinear` is the ONE definition of every nonlinearity a fixed op may carry; all
kernels (conv, pool, eltwise, activation) call it on their exact value ``v = n * 2**-e`` before the
single output rounding done by :func:`output_fix`:

* ``NONE``      v
* ``RELU``      max(v, 0)
* ``RELU6``     min(max(v, 0), 6)
* ``LEAKYRELU`` v if v >= 0 else v * 26 / 2**8
* ``HSIGMOID``  min(max(v + 3, 0), 6) * 2731 / 2**14
* ``HSWISH``    v * g, g = saturate8(round_DPU(hsigmoid(v) * 2**7)) / 2**7  (the gate is the only
  extra rounding: always DPU_ROUND, signed 8 bits at fix position 7, so g <= 127/128)
"""

from __future__ import annotations

import numpy as np

from .. import fixpoint
from ._common import as_int, as_int_tensor, max_abs

# (6 << e) * 2731 must stay below 2**63
_MAX_HSIGMOID_SCALE = 46

NONLINEARS = ("NONE", "RELU", "RELU6", "LEAKYRELU", "HSIGMOID", "HSWISH")

__all__ = [
    "NONLINEARS",
    "check_nonlinear",
    "apply_nonlinear",
    "output_fix",
    "activation_fix",
    "relu_fix",
    "relu6_fix",
    "leaky_relu_fix",
    "hsigmoid_fix",
    "hswish_fix",
]


def check_nonlinear(nonlinear: str) -> str:
    """Return ``nonlinear`` if it is one of NONLINEARS, else raise ValueError naming them."""
    if not isinstance(nonlinear, str) or nonlinear not in NONLINEARS:
        raise ValueError(
            f"unknown nonlinear {nonlinear!r}; use one of {', '.join(NONLINEARS)}"
        )
    return nonlinear


def _to_nonneg_scale(n: np.ndarray, e: int) -> tuple[np.ndarray, int]:
    """Same value with a scale exponent >= 0, so integer constants (3, 6) are representable."""
    if e >= 0:
        return n, e
    return fixpoint.shift_left(n, -e), 0


def _hsigmoid_exact(n: np.ndarray, e: int) -> tuple[np.ndarray, int]:
    n, e = _to_nonneg_scale(n, e)
    if e > _MAX_HSIGMOID_SCALE:
        raise OverflowError(
            f"hard-sigmoid of a value at scale 2**-{e} overflows int64; use smaller fix positions"
        )
    three = 3 << e
    # clip(n + 3, 0, 6) written as clip(n, -3, 3) + 3 so that n + 3 cannot overflow
    return (np.clip(n, -three, three) + three) * fixpoint.HSIGMOID_NUM, e + fixpoint.HSIGMOID_SHIFT


def apply_nonlinear(n, scale_exp: int, nonlinear: str) -> tuple[np.ndarray, int]:
    """Apply ``nonlinear`` exactly to the value ``n * 2**-scale_exp``.

    Returns ``(n2, scale_exp2)`` with ``n2 * 2**-scale_exp2`` the exact result (int64); the result
    scale is ``scale_exp`` for NONE/RELU, ``max(scale_exp, 0)`` for RELU6, ``scale_exp + 8`` for
    LEAKYRELU, ``max(scale_exp, 0) + 14`` for HSIGMOID and ``max(scale_exp, 0) + 7`` for HSWISH.
    """
    check_nonlinear(nonlinear)
    e = as_int(scale_exp, "scale_exp")
    n = as_int_tensor(n, "n")
    if nonlinear == "NONE":
        return n, e
    if nonlinear == "RELU":
        return np.maximum(n, 0), e
    if nonlinear == "RELU6":
        n, e = _to_nonneg_scale(n, e)
        return np.clip(n, 0, 6 << e), e
    if nonlinear == "LEAKYRELU":
        pos = fixpoint.shift_left(n, fixpoint.LEAKY_RELU_SHIFT)
        return np.where(n >= 0, pos, n * fixpoint.LEAKY_RELU_NUM), e + fixpoint.LEAKY_RELU_SHIFT
    if nonlinear == "HSIGMOID":
        return _hsigmoid_exact(n, e)
    # HSWISH
    n, e = _to_nonneg_scale(n, e)
    h, he = _hsigmoid_exact(n, e)
    gate = fixpoint.requantize(
        h, he, fixpoint.HSWISH_GATE_FIX_POS, fixpoint.HSWISH_GATE_BIT_WIDTH, "DPU_ROUND"
    ).astype(np.int64)
    if max_abs(n) >= (1 << 63) // 128:
        raise OverflowError("hard-swish of this value overflows int64; use smaller fix positions")
    return n * gate, e + fixpoint.HSWISH_GATE_FIX_POS


def output_fix(n, scale_exp: int, *, fp_out: int, nonlinear: str = "NONE", bit_width: int = 8,
               round_mode: str = "DPU_ROUND") -> np.ndarray:
    """Finish a fixed op: apply ``nonlinear`` exactly to ``n * 2**-scale_exp``, then round once to
    ``fp_out`` with ``round_mode`` and saturate to a signed ``bit_width`` integer."""
    fixpoint.check_round_mode(round_mode)
    fixpoint.qrange(bit_width)
    n2, e2 = apply_nonlinear(n, scale_exp, nonlinear)
    return fixpoint.requantize(n2, e2, as_int(fp_out, "fp_out"), bit_width, round_mode)


def activation_fix(x, *, fp_in: int, fp_out: int, nonlinear: str, bit_width: int = 8,
                   round_mode: str = "DPU_ROUND") -> np.ndarray:
    """Standalone activation on a quantized tensor: ``output_fix(x, fp_in, nonlinear)``."""
    xi = as_int_tensor(x, "x")
    return output_fix(xi, as_int(fp_in, "fp_in"), fp_out=fp_out, nonlinear=nonlinear,
                      bit_width=bit_width, round_mode=round_mode)


def relu_fix(x, *, fp_in: int, fp_out: int, bit_width: int = 8,
             round_mode: str = "DPU_ROUND") -> np.ndarray:
    """ReLU on a quantized tensor (see activation_fix)."""
    return activation_fix(x, fp_in=fp_in, fp_out=fp_out, nonlinear="RELU",
                          bit_width=bit_width, round_mode=round_mode)


def relu6_fix(x, *, fp_in: int, fp_out: int, bit_width: int = 8,
              round_mode: str = "DPU_ROUND") -> np.ndarray:
    """ReLU6 on a quantized tensor (see activation_fix)."""
    return activation_fix(x, fp_in=fp_in, fp_out=fp_out, nonlinear="RELU6",
                          bit_width=bit_width, round_mode=round_mode)


def leaky_relu_fix(x, *, fp_in: int, fp_out: int, bit_width: int = 8,
                   round_mode: str = "DPU_ROUND") -> np.ndarray:
    """LeakyReLU with the DPU slope 26/256 on a quantized tensor (any requested slope is
    replaced by 26/256, as the quantizer does)."""
    return activation_fix(x, fp_in=fp_in, fp_out=fp_out, nonlinear="LEAKYRELU",
                          bit_width=bit_width, round_mode=round_mode)


def hsigmoid_fix(x, *, fp_in: int, fp_out: int, bit_width: int = 8,
                 round_mode: str = "DPU_ROUND") -> np.ndarray:
    """Hard-sigmoid relu6(v + 3) * 2731 / 2**14 on a quantized tensor (see activation_fix)."""
    return activation_fix(x, fp_in=fp_in, fp_out=fp_out, nonlinear="HSIGMOID",
                          bit_width=bit_width, round_mode=round_mode)


def hswish_fix(x, *, fp_in: int, fp_out: int, bit_width: int = 8,
               round_mode: str = "DPU_ROUND") -> np.ndarray:
    """Hard-swish v * Q7(hard-sigmoid(v)) on a quantized tensor (see activation_fix)."""
    return activation_fix(x, fp_in=fp_in, fp_out=fp_out, nonlinear="HSWISH",
                          bit_width=bit_width, round_mode=round_mode)
