"""Shared helpers of the reference kernels: argument validation, window geometry, exact sums.

Rules enforced here:

* quantized kernels take integer arrays only (floats must be quantized first);
* spatial tuples are in XIR order, width first: ``(w, h)`` pairs and ``(left, right, top, bottom)``
  pads;
* a float64 product-sum of integers is used only when every partial sum provably stays below
  2**53 (then it is exact); otherwise the sum is done in int64, which must stay below 2**63.
"""

from __future__ import annotations

import operator

import numpy as np

from .. import fixpoint

FLOAT64_EXACT_LIMIT = 1 << 53
INT64_LIMIT = 1 << 63


def as_int_tensor(x, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``x`` as an int64 array (``xir.fixpoint.as_int64``); ValueError for non-integer data, a wrong
    rank or values beyond int64."""
    try:
        return fixpoint.as_int64(x, name, ndim)
    except OverflowError as e:
        raise ValueError(str(e)) from None


def as_int(value, name: str) -> int:
    """Return ``value`` as a Python int; ValueError if it is not an integer."""
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def int_tuple(value, length: int, name: str, minimum: int) -> tuple[int, ...]:
    """Return ``value`` as a tuple of ``length`` ints, each >= ``minimum``."""
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of {length} integers, got {value!r}") from None
    if len(items) != length:
        raise ValueError(f"{name} must have {length} entries, got {value!r}")
    out = tuple(as_int(v, name) for v in items)
    if any(v < minimum for v in out):
        raise ValueError(f"{name} entries must be >= {minimum}, got {value!r}")
    return out


def pair(value, name: str, minimum: int = 1) -> tuple[int, int]:
    """A width-first ``(w, h)`` pair with entries >= ``minimum``."""
    return int_tuple(value, 2, name, minimum)  # type: ignore[return-value]


def pads4(value, name: str = "pad") -> tuple[int, int, int, int]:
    """A ``(left, right, top, bottom)`` padding with entries >= 0."""
    return int_tuple(value, 4, name, 0)  # type: ignore[return-value]


def out_size(size: int, k: int, s: int, d: int, p0: int, p1: int, what: str,
             ceil_mode: bool = False) -> int:
    """Output length of a sliding window (PyTorch rule, ceil_mode drops a window starting in the
    trailing padding)."""
    span = d * (k - 1) + 1
    avail = size + p0 + p1 - span
    if avail < 0:
        raise ValueError(
            f"{what}: window of extent {span} does not fit the padded input of size "
            f"{size + p0 + p1}"
        )
    if ceil_mode:
        n = -(-avail // s) + 1
        if (n - 1) * s >= size + p0:
            n -= 1
    else:
        n = avail // s + 1
    return n


def pad_nhwc(x: np.ndarray, pad: tuple[int, int, int, int], extra_h: int = 0, extra_w: int = 0,
             value=0) -> np.ndarray:
    """Pad an NHWC array with ``pad`` = (left, right, top, bottom) plus extra bottom/right rows."""
    left, right, top, bottom = pad
    if not any((left, right, top, bottom, extra_h, extra_w)):
        return x
    return np.pad(
        x,
        ((0, 0), (top, bottom + extra_h), (left, right + extra_w), (0, 0)),
        mode="constant",
        constant_values=value,
    )


def max_abs(a: np.ndarray) -> int:
    """Largest absolute value of an integer array (0 when empty)."""
    if a.size == 0:
        return 0
    return max(abs(int(a.max())), abs(int(a.min())))


def sum_dtype(max_x: int, max_w: int, terms: int, what: str):
    """float64 when ``max_x * max_w * terms < 2**53`` (exact), else int64 (exact below 2**63)."""
    bound = max_x * max_w * max(terms, 1)
    if bound < FLOAT64_EXACT_LIMIT:
        return np.float64
    if bound < INT64_LIMIT:
        return np.int64
    raise ValueError(
        f"{what}: the accumulator could reach {bound}, beyond int64; use smaller bit widths"
    )


def align_add(n1: np.ndarray, e1: int, n2: np.ndarray, e2: int) -> tuple[np.ndarray, int]:
    """Exact sum of ``n1 * 2**-e1`` and ``n2 * 2**-e2``: both are brought to the finer scale
    ``max(e1, e2)`` by an integer left shift (no rounding)."""
    e = max(e1, e2)
    return fixpoint.shift_left(n1, e - e1) + fixpoint.shift_left(n2, e - e2), e
