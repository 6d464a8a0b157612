"""Float kernels of CPU subgraphs, and the fix/float2fix/fix2float conversions.

Rule: inputs are converted to float64, every computation is done in float64, and the result is
returned as float32.  Any implementation that calls these functions therefore gets identical bits
(on one platform; transcendental functions come from the platform's libm).  Layout is NHWC; conv
weights are [out_c, kh, kw, in_c / group]; spatial tuples are width first as in XIR.
"""

from __future__ import annotations

import numpy as np

from .. import fixpoint
from ._common import as_int, out_size, pad_nhwc, pads4, pair
from .conv import conv2d_accumulate
from .layout import nearest_indices

__all__ = [
    "softmax",
    "sigmoid",
    "tanh",
    "conv2d_float",
    "matmul",
    "add",
    "mul",
    "resize",
    "reduce_mean",
    "reduce_max",
    "fix",
    "float2fix",
    "fix2float",
]

RESIZE_MODES = ("NEAREST", "BILINEAR")


def _f64(x, name: str = "x") -> np.ndarray:
    arr = np.asarray(x)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _out(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).astype(np.float32)


def softmax(x, axis: int = -1) -> np.ndarray:
    """exp(x - max) / sum(exp(x - max)) along ``axis``."""
    xf = _f64(x)
    ax = as_int(axis, "axis")
    e = np.exp(xf - np.max(xf, axis=ax, keepdims=True))
    return _out(e / np.sum(e, axis=ax, keepdims=True))


def sigmoid(x) -> np.ndarray:
    """1 / (1 + exp(-x)) for x >= 0 and exp(x) / (1 + exp(x)) for x < 0 (no overflow)."""
    xf = _f64(x)
    e = np.exp(-np.abs(xf))
    return _out(np.where(xf >= 0, 1.0 / (1.0 + e), e / (1.0 + e)))


def tanh(x) -> np.ndarray:
    """Hyperbolic tangent."""
    return _out(np.tanh(_f64(x)))


def conv2d_float(x, w, b=None, *, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1),
                 group: int = 1) -> np.ndarray:
    """Float 2-D convolution, NHWC, w [out_c, kh, kw, in_c/group], b [out_c] or None; the same
    geometry as conv2d_fix (zero padding (left, right, top, bottom))."""
    xf = _f64(x)
    wf = _f64(w, "w")
    if xf.ndim != 4 or wf.ndim != 4:
        raise ValueError(f"conv2d_float needs rank-4 x and w, got shapes {xf.shape} and {wf.shape}")
    g = as_int(group, "group")
    if g < 1:
        raise ValueError(f"group must be >= 1, got {g}")
    _, h, wd, cin = xf.shape
    cout, kh, kw, cig = wf.shape
    if cig * g != cin or cout % g:
        raise ValueError(
            f"conv2d_float: x shape {xf.shape} and w shape {wf.shape} do not match for group={g}"
        )
    sw, sh = pair(stride, "stride")
    dw, dh = pair(dilation, "dilation")
    p = pads4(pad)
    oh = out_size(h, kh, sh, dh, p[2], p[3], "conv2d_float height")
    ow = out_size(wd, kw, sw, dw, p[0], p[1], "conv2d_float width")
    acc = conv2d_accumulate(pad_nhwc(xf, p), wf, stride=(sw, sh), dilation=(dw, dh), group=g,
                            out_hw=(oh, ow))
    if b is not None:
        bf = _f64(b, "b")
        if bf.shape != (cout,):
            raise ValueError(f"conv2d_float: bias shape {bf.shape} does not match ({cout},)")
        acc = acc + bf
    return _out(acc)


def matmul(a, b, transpose_a: bool = False, transpose_b: bool = False) -> np.ndarray:
    """Matrix product of the last two axes (batch axes broadcast); optional transposes."""
    af = _f64(a, "a")
    bf = _f64(b, "b")
    if af.ndim < 2 or bf.ndim < 2:
        raise ValueError(f"matmul needs rank >= 2 operands, got shapes {af.shape} and {bf.shape}")
    if transpose_a:
        af = np.swapaxes(af, -1, -2)
    if transpose_b:
        bf = np.swapaxes(bf, -1, -2)
    if af.shape[-1] != bf.shape[-2]:
        raise ValueError(
            f"matmul: inner dimensions differ ({af.shape} x {bf.shape} after transposes)"
        )
    return _out(np.matmul(af, bf))


def add(a, b) -> np.ndarray:
    """Element-wise sum with broadcasting."""
    return _out(_f64(a, "a") + _f64(b, "b"))


def mul(a, b) -> np.ndarray:
    """Element-wise product with broadcasting."""
    return _out(_f64(a, "a") * _f64(b, "b"))


def _bilinear_axis(n_in: int, n_out: int, align_corners: bool, half_pixel_centers: bool):
    if align_corners:
        scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        scale = n_in / n_out
    i = np.arange(n_out, dtype=np.float64)
    src = (i + 0.5) * scale - 0.5 if half_pixel_centers else i * scale
    src = np.maximum(src, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    return i0, i1, lam


def resize(x, *, size, mode: str = "NEAREST", align_corners: bool = False,
           half_pixel_centers: bool = False) -> np.ndarray:
    """Resize NHWC to ``size`` = (out_w, out_h).

    NEAREST uses the exact index rule of layout.nearest_indices.  BILINEAR, per axis:
    ``scale = (in-1)/(out-1)`` if align_corners (0 when out == 1) else ``in/out``;
    ``src = (i + 0.5) * scale - 0.5`` if half_pixel_centers else ``i * scale``; ``src`` is clamped
    at 0; ``i0 = min(floor(src), in-1)``, ``i1 = min(i0 + 1, in-1)``, ``l = src - i0``; output
    ``(1-ly)*((1-lx)*x00 + lx*x01) + ly*((1-lx)*x10 + lx*x11)`` in float64.
    """
    xf = _f64(x)
    if xf.ndim != 4:
        raise ValueError(f"resize expects an NHWC tensor, got shape {xf.shape}")
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; use one of {', '.join(RESIZE_MODES)}")
    if align_corners and half_pixel_centers:
        raise ValueError("align_corners and half_pixel_centers cannot both be True")
    out_w, out_h = pair(size, "size")
    _, h, w, _ = xf.shape
    if mode == "NEAREST":
        ys = nearest_indices(h, out_h, align_corners, half_pixel_centers)
        xs = nearest_indices(w, out_w, align_corners, half_pixel_centers)
        return _out(xf[:, ys][:, :, xs])
    y0, y1, ly = _bilinear_axis(h, out_h, align_corners, half_pixel_centers)
    x0, x1, lx = _bilinear_axis(w, out_w, align_corners, half_pixel_centers)
    ly = ly[None, :, None, None]
    lx = lx[None, None, :, None]
    top = xf[:, y0]
    bottom = xf[:, y1]
    row_top = (1.0 - lx) * top[:, :, x0] + lx * top[:, :, x1]
    row_bottom = (1.0 - lx) * bottom[:, :, x0] + lx * bottom[:, :, x1]
    return _out((1.0 - ly) * row_top + ly * row_bottom)


def reduce_mean(x, axis, keep_dims: bool = False) -> np.ndarray:
    """Mean over ``axis`` (an int or a sequence of ints)."""
    xf = _f64(x)
    axes = (as_int(axis, "axis"),) if np.ndim(axis) == 0 else tuple(as_int(a, "axis") for a in axis)
    return _out(np.mean(xf, axis=axes, keepdims=bool(keep_dims)))


def reduce_max(x, axis, keep_dims: bool = False) -> np.ndarray:
    """Maximum over ``axis`` (an int or a sequence of ints); exact, so every implementation agrees."""
    xf = _f64(x)
    axes = (as_int(axis, "axis"),) if np.ndim(axis) == 0 else tuple(as_int(a, "axis") for a in axis)
    return _out(np.max(xf, axis=axes, keepdims=bool(keep_dims)))


def fix(x, *, fix_point: int, bit_width: int = 8, round_mode: str = "DPU_ROUND",
        if_signed: bool = True) -> np.ndarray:
    """The XIR ``fix`` op (fake quantization): float in, float32 out, values on the fixed grid."""
    return fixpoint.dequantize(
        fixpoint.quantize(_f64(x), fix_point, bit_width, round_mode, if_signed), fix_point,
        np.float32,
    )


def float2fix(x, *, fix_point: int, bit_width: int = 8, round_mode: str = "DPU_ROUND",
              if_signed: bool = True) -> np.ndarray:
    """Float -> integer at ``fix_point`` (fixpoint.quantize), integer dtype of ``bit_width``."""
    return fixpoint.quantize(_f64(x), fix_point, bit_width, round_mode, if_signed)


def fix2float(q, *, fix_point: int) -> np.ndarray:
    """Integer -> float32 value ``q * 2**-fix_point``."""
    return fixpoint.dequantize(q, fix_point, np.float32)
