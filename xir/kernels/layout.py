"""Reference kernels that only move data: pad, nearest upsample/resize, reshape, flatten, transpose.

None of them changes a value, so the fix position of the output equals that of the input
(fixpoint.check_same_fix) and the output keeps the input's integer dtype.

Nearest resize index rule (exact integer arithmetic, per spatial axis, ``i`` = output index,
``n_in``/``n_out`` = input/output lengths, result clamped to ``n_in - 1``):

* default:              ``src = floor(i * n_in / n_out)``       = ``(i * n_in) // n_out``
* half_pixel_centers:   ``src = floor((i + 1/2) * n_in / n_out)``
                        = ``((2i + 1) * n_in) // (2 n_out)``
* align_corners:        ``src = round_half_up(i * (n_in - 1) / (n_out - 1))``
                        = ``(2 i (n_in - 1) + (n_out - 1)) // (2 (n_out - 1))``; 0 when n_out == 1
"""

from __future__ import annotations

import numpy as np

from .. import fixpoint
from ._common import as_int, pair

__all__ = [
    "PAD_MODES",
    "pad_fix",
    "upsample_fix",
    "resize_nearest_fix",
    "nearest_indices",
    "reshape_fix",
    "flatten_fix",
    "transpose_fix",
]

PAD_MODES = ("CONSTANT", "REFLECT", "SYMMETRIC")


def pad_fix(x, *, paddings, mode: str = "CONSTANT", constant_value: int = 0) -> np.ndarray:
    """Pad a quantized tensor; ``paddings`` has one (before, after) pair per axis ([(b, a)] * 4 for
    NHWC).  CONSTANT fills ``constant_value`` (an integer in the tensor's dtype); REFLECT mirrors
    without repeating the edge (pad < size); SYMMETRIC mirrors including the edge (pad <= size)."""
    arr = fixpoint.int_array(x, "x")
    if mode not in PAD_MODES:
        raise ValueError(f"unknown pad mode {mode!r}; use one of {', '.join(PAD_MODES)}")
    try:
        pads = [tuple(as_int(v, "paddings") for v in pr) for pr in paddings]
    except TypeError:
        raise ValueError(f"paddings must be a list of (before, after) pairs, got {paddings!r}") \
            from None
    if len(pads) != arr.ndim or any(len(pr) != 2 or min(pr) < 0 for pr in pads):
        raise ValueError(
            f"paddings must hold {arr.ndim} non-negative (before, after) pairs for shape "
            f"{arr.shape}, got {paddings!r}"
        )
    if mode == "CONSTANT":
        value = as_int(constant_value, "constant_value")
        info = np.iinfo(arr.dtype)
        if not info.min <= value <= info.max:
            raise ValueError(f"constant_value {value} does not fit the tensor dtype {arr.dtype}")
        return np.pad(arr, pads, mode="constant", constant_values=value)
    for axis, ((before, after), size) in enumerate(zip(pads, arr.shape)):
        limit = size - 1 if mode == "REFLECT" else size
        if max(before, after) > limit:
            raise ValueError(
                f"{mode} padding of {max(before, after)} on axis {axis} exceeds {limit} "
                f"(axis size {size})"
            )
    return np.pad(arr, pads, mode="reflect" if mode == "REFLECT" else "symmetric")


def upsample_fix(x, *, scale=(2, 2), mode: str = "NEAREST") -> np.ndarray:
    """Nearest-neighbour upsampling of NHWC by integer factors ``scale`` = (sw, sh): every pixel
    is repeated sh times vertically and sw times horizontally."""
    arr = fixpoint.int_array(x, "x")
    if arr.ndim != 4:
        raise ValueError(f"upsample expects an NHWC tensor, got shape {arr.shape}")
    if mode != "NEAREST":
        raise ValueError(
            f"upsample mode {mode!r} is not a fixed-point data-movement op; only NEAREST is "
            "(use float_ops.resize for BILINEAR)"
        )
    sw, sh = pair(scale, "scale")
    return np.repeat(np.repeat(arr, sh, axis=1), sw, axis=2)


def nearest_indices(n_in: int, n_out: int, align_corners: bool = False,
                    half_pixel_centers: bool = False) -> np.ndarray:
    """Source index of every output index of a nearest resize (see the module docstring)."""
    if align_corners and half_pixel_centers:
        raise ValueError("align_corners and half_pixel_centers cannot both be True")
    if n_in < 1 or n_out < 1:
        raise ValueError(f"resize sizes must be positive, got {n_in} -> {n_out}")
    i = np.arange(n_out, dtype=np.int64)
    if align_corners:
        if n_out == 1:
            src = np.zeros(1, dtype=np.int64)
        else:
            src = (2 * i * (n_in - 1) + (n_out - 1)) // (2 * (n_out - 1))
    elif half_pixel_centers:
        src = ((2 * i + 1) * n_in) // (2 * n_out)
    else:
        src = (i * n_in) // n_out
    return np.minimum(src, n_in - 1)


def resize_nearest_fix(x, *, size, align_corners: bool = False,
                       half_pixel_centers: bool = False) -> np.ndarray:
    """Nearest resize of NHWC to ``size`` = (out_w, out_h) with the exact integer index rule."""
    arr = fixpoint.int_array(x, "x")
    if arr.ndim != 4:
        raise ValueError(f"resize expects an NHWC tensor, got shape {arr.shape}")
    out_w, out_h = pair(size, "size")
    ys = nearest_indices(arr.shape[1], out_h, align_corners, half_pixel_centers)
    xs = nearest_indices(arr.shape[2], out_w, align_corners, half_pixel_centers)
    return arr[:, ys][:, :, xs]


def reshape_fix(x, shape) -> np.ndarray:
    """Reshape (row-major order, one -1 allowed)."""
    arr = np.asarray(x)
    try:
        return arr.reshape(tuple(as_int(d, "shape") for d in shape))
    except ValueError as exc:
        raise ValueError(f"cannot reshape {arr.shape} to {tuple(shape)}: {exc}") from None


def flatten_fix(x, start_axis: int = 1, end_axis: int = -1) -> np.ndarray:
    """Merge axes start_axis..end_axis (inclusive, negative counts from the end) into one."""
    arr = np.asarray(x)
    nd = arr.ndim
    s = as_int(start_axis, "start_axis")
    e = as_int(end_axis, "end_axis")
    if not (-nd <= s < nd and -nd <= e < nd):
        raise ValueError(f"flatten axes ({s}, {e}) are out of range for shape {arr.shape}")
    s %= nd
    e %= nd
    if s > e:
        raise ValueError(f"flatten start_axis {s} comes after end_axis {e}")
    merged = int(np.prod(arr.shape[s:e + 1], dtype=np.int64))
    return arr.reshape(arr.shape[:s] + (merged,) + arr.shape[e + 1:])


def transpose_fix(x, order) -> np.ndarray:
    """Permute axes: output axis k is input axis ``order[k]``."""
    arr = np.asarray(x)
    perm = tuple(as_int(v, "order") for v in order)
    if sorted(perm) != list(range(arr.ndim)):
        raise ValueError(f"transpose order {perm} is not a permutation of the {arr.ndim} axes")
    return np.transpose(arr, perm)
