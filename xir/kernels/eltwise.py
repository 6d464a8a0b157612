"""Reference kernels of element-wise add and multiply (eltwise-fix ADD / MUL).

* Add: the exact sum of the inputs ``x_k * 2**-fp_k``, computed at the finest input scale
  ``max(fp_k)`` (each input shifted left by ``max(fp_k) - fp_k``), then the nonlinearity, then one
  rounding to ``fp_out``.
* Mul: the exact product ``prod(x_k) * 2**-sum(fp_k)``, then the nonlinearity, then one rounding.

Inputs broadcast against each other with numpy rules (2 or more inputs).
"""

from __future__ import annotations

import numpy as np

from .. import fixpoint
from ._common import as_int, as_int_tensor, max_abs
from .activation import check_nonlinear, output_fix

__all__ = ["eltwise_add_fix", "eltwise_mul_fix"]


def _inputs(inputs, fps_in, what: str) -> tuple[list[np.ndarray], list[int]]:
    arrays = [as_int_tensor(a, f"{what} input {k}") for k, a in enumerate(inputs)]
    fps = [as_int(f, f"{what} fps_in[{k}]") for k, f in enumerate(fps_in)]
    if len(arrays) < 2:
        raise ValueError(f"{what} needs at least 2 inputs, got {len(arrays)}")
    if len(fps) != len(arrays):
        raise ValueError(
            f"{what}: {len(arrays)} inputs but {len(fps)} input fix positions in fps_in"
        )
    try:
        np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise ValueError(f"{what}: input shapes {shapes} do not broadcast together") from None
    return arrays, fps


def eltwise_add_fix(inputs, *, fps_in, fp_out: int, nonlinear: str = "NONE",
                    bit_width: int = 8, round_mode: str = "DPU_ROUND") -> np.ndarray:
    """Quantized element-wise sum of 2+ inputs: exact sum at scale max(fps_in), nonlinear, one
    rounding to fp_out, saturation to bit_width bits."""
    check_nonlinear(nonlinear)
    arrays, fps = _inputs(inputs, fps_in, "eltwise_add")
    e = max(fps)
    total = None
    for a, f in zip(arrays, fps):
        term = fixpoint.shift_left(a, e - f)
        total = term if total is None else total + term
    return output_fix(total, e, fp_out=fp_out, nonlinear=nonlinear, bit_width=bit_width,
                      round_mode=round_mode)


def eltwise_mul_fix(inputs, *, fps_in, fp_out: int, nonlinear: str = "NONE",
                    bit_width: int = 8, round_mode: str = "DPU_ROUND") -> np.ndarray:
    """Quantized element-wise product of 2+ inputs: exact product at scale sum(fps_in),
    nonlinear, one rounding to fp_out, saturation to bit_width bits."""
    check_nonlinear(nonlinear)
    arrays, fps = _inputs(inputs, fps_in, "eltwise_mul")
    bound = 1
    for a in arrays:
        bound *= max(max_abs(a), 1)
    if bound >= 1 << 62:
        raise ValueError("eltwise_mul: the product could overflow int64; use fewer inputs")
    total = arrays[0]
    for a in arrays[1:]:
        total = total * a
    return output_fix(total, sum(fps), fp_out=fp_out, nonlinear=nonlinear, bit_width=bit_width,
                      round_mode=round_mode)
