"""Reference kernel of concatenation (concat-fix).

Each input ``x_k`` at ``fp_k`` is requantized exactly to ``fp_out`` (a left shift when
``fp_out > fp_k``, one rounding with ``round_mode`` when ``fp_out < fp_k``, identity when equal),
saturated to ``bit_width`` bits, then the inputs are joined along ``axis``.  The DPU requires all
positions to be equal (fixpoint.check_concat_fix), in which case concat is pure data movement.
"""

from __future__ import annotations

import numpy as np

from .. import fixpoint
from ._common import as_int, as_int_tensor

__all__ = ["concat_fix"]


def concat_fix(inputs, *, fps_in, fp_out: int, axis: int = -1, bit_width: int = 8,
               round_mode: str = "DPU_ROUND") -> np.ndarray:
    """Concatenate quantized tensors along ``axis`` after requantizing each to ``fp_out``."""
    arrays = [as_int_tensor(a, f"concat input {k}") for k, a in enumerate(inputs)]
    fps = [as_int(f, f"concat fps_in[{k}]") for k, f in enumerate(fps_in)]
    if not arrays:
        raise ValueError("concat needs at least one input")
    if len(fps) != len(arrays):
        raise ValueError(f"concat: {len(arrays)} inputs but {len(fps)} fix positions in fps_in")
    o = as_int(fp_out, "fp_out")
    ax = as_int(axis, "axis")
    ndim = arrays[0].ndim
    if not -ndim <= ax < ndim:
        raise ValueError(f"concat axis {ax} is out of range for rank-{ndim} inputs")
    for k, a in enumerate(arrays):
        other = [d for j, d in enumerate(a.shape) if j != ax % ndim] if a.ndim == ndim else None
        first = [d for j, d in enumerate(arrays[0].shape) if j != ax % ndim]
        if other != first:
            raise ValueError(
                f"concat: input {k} shape {a.shape} does not match input 0 shape "
                f"{arrays[0].shape} outside axis {ax}"
            )
    parts = [fixpoint.requantize(a, f, o, bit_width, round_mode) for a, f in zip(arrays, fps)]
    return np.concatenate(parts, axis=ax)
