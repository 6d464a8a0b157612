"""Reference kernels of the conv family: conv2d, depthwise conv2d, transposed conv2d, dense.

Contract (every kernel here): with activations ``x`` at ``fp_in``, weights at ``fp_w`` and bias at
``fp_b``, the exact accumulator ``acc = sum(x * w)`` has the value ``acc * 2**-(fp_in + fp_w)``.
The bias value ``b * 2**-fp_b`` is added exactly by bringing both to the finer of the two scales
with an integer left shift; the nonlinearity is applied exactly (activation.apply_nonlinear); the
result is rounded once to ``fp_out`` with ``round_mode`` and saturated to ``bit_width`` bits.

Layouts: NHWC activations; conv weights ``[out_c, kh, kw, in_c / group]``; depthwise weights
``[multiplier, kh, kw, in_c]`` (output channel ``c * multiplier + m``); transposed-conv weights
``[out_c, kh, kw, in_c / group]``; dense weights ``[out_features, in_features]``.  Spatial
arguments are width first: stride ``(sw, sh)``, dilation ``(dw, dh)``, pad
``(left, right, top, bottom)``.

The product sums run as float64 matmuls when ``max|x| * max|w| * terms < 2**53`` (then every
partial sum is an integer below 2**53 and float64 is exact), else in int64.
"""

from __future__ import annotations

import numpy as np

from ._common import (
    align_add,
    as_int,
    as_int_tensor,
    max_abs,
    out_size,
    pad_nhwc,
    pads4,
    pair,
    sum_dtype,
)
from .activation import check_nonlinear, output_fix

__all__ = [
    "conv2d_fix",
    "depthwise_conv2d_fix",
    "transposed_conv2d_fix",
    "dense_fix",
    "conv2d_accumulate",
    "transposed_conv2d_accumulate",
    "transposed_conv_out_size",
]


# ---------------------------------------------------------------------------------------------
# product sums (shared with the float kernels)
# ---------------------------------------------------------------------------------------------


def conv2d_accumulate(xp: np.ndarray, w: np.ndarray, *, stride: tuple[int, int],
                      dilation: tuple[int, int], group: int, out_hw: tuple[int, int]) -> np.ndarray:
    """Direct grouped conv of an already padded NHWC ``xp`` with ``w`` [out_c, kh, kw, in_c/group].

    ``out[n, y, x, o] = sum_{ky, kx, i} xp[n, y*sh + ky*dh, x*sw + kx*dw, g*cig + i] *
    w[o, ky, kx, i]`` with ``g = o // (out_c / group)``.  Computed in the dtype of the inputs (one
    batched matmul per kernel tap); exact for int64, and for float64 while the sums stay below
    2**53 on integer data.
    """
    n_batch = xp.shape[0]
    cout, kh, kw, cig = w.shape
    cog = cout // group
    sw, sh = stride
    dw, dh = dilation
    oh, ow = out_hw
    m = n_batch * oh * ow
    wg = w.reshape(group, cog, kh, kw, cig)
    acc = np.zeros((group, m, cog), dtype=np.result_type(xp.dtype, w.dtype))
    for ky in range(kh):
        y0 = ky * dh
        for kx in range(kw):
            x0 = kx * dw
            patch = xp[:, y0:y0 + (oh - 1) * sh + 1:sh, x0:x0 + (ow - 1) * sw + 1:sw, :]
            patch = patch.reshape(m, group, cig).transpose(1, 0, 2)
            acc += np.matmul(patch, wg[:, :, ky, kx, :].transpose(0, 2, 1))
    return acc.transpose(1, 0, 2).reshape(n_batch, oh, ow, cout)


def transposed_conv2d_accumulate(x: np.ndarray, w: np.ndarray, *, stride: tuple[int, int],
                                 pad: tuple[int, int, int, int], dilation: tuple[int, int],
                                 group: int, out_hw: tuple[int, int]) -> np.ndarray:
    """Scatter form of the transposed conv (PyTorch ConvTranspose2d geometry).

    Input pixel ``(iy, ix)`` adds ``x[n, iy, ix, g*cig + i] * w[o, ky, kx, i]`` to output pixel
    ``(iy*sh - top + ky*dh, ix*sw - left + kx*dw)``; contributions landing outside the output
    are dropped.
    """
    n_batch, h, wd, _ = x.shape
    cout, kh, kw, cig = w.shape
    cog = cout // group
    sw, sh = stride
    dw, dh = dilation
    left, _right, top, _bottom = pad
    oh, ow = out_hw
    full_h = (h - 1) * sh + dh * (kh - 1) + 1
    full_w = (wd - 1) * sw + dw * (kw - 1) + 1
    buf = np.zeros((n_batch, max(full_h, top + oh), max(full_w, left + ow), cout),
                   dtype=np.result_type(x.dtype, w.dtype))
    m = n_batch * h * wd
    xg = x.reshape(m, group, cig).transpose(1, 0, 2)
    wg = w.reshape(group, cog, kh, kw, cig)
    for ky in range(kh):
        y0 = ky * dh
        for kx in range(kw):
            x0 = kx * dw
            contrib = np.matmul(xg, wg[:, :, ky, kx, :].transpose(0, 2, 1))
            contrib = contrib.transpose(1, 0, 2).reshape(n_batch, h, wd, cout)
            buf[:, y0:y0 + (h - 1) * sh + 1:sh, x0:x0 + (wd - 1) * sw + 1:sw, :] += contrib
    return buf[:, top:top + oh, left:left + ow, :]


# ---------------------------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------------------------


def _fix_positions(fp_in, fp_w, fp_b, fp_out, has_bias: bool) -> tuple[int, int, int | None, int]:
    i = as_int(fp_in, "fp_in")
    w = as_int(fp_w, "fp_w")
    o = as_int(fp_out, "fp_out")
    if has_bias:
        if fp_b is None:
            raise ValueError("a bias was given without its fix position; pass fp_b")
        b = as_int(fp_b, "fp_b")
    else:
        b = None
    return i, w, b, o


def _grouped_operands(x, w, group, nonlinear: str, what: str):
    """Integer NHWC input and [out_c, kh, kw, in_c/group] weights that agree for ``group``."""
    xi = as_int_tensor(x, "x", 4)
    wi = as_int_tensor(w, "w", 4)
    check_nonlinear(nonlinear)
    g = as_int(group, "group")
    if g < 1:
        raise ValueError(f"group must be >= 1, got {g}")
    cin, (cout, _, _, cig) = xi.shape[3], wi.shape
    if cig * g != cin or cout % g:
        raise ValueError(
            f"{what}: x shape {xi.shape} and w shape {wi.shape} do not match for group={g}; "
            f"w must be [out_c, kh, kw, in_c/group] with out_c divisible by group"
        )
    return xi, wi, g


def _bias(b, cout: int, what: str) -> np.ndarray | None:
    if b is None:
        return None
    bi = as_int_tensor(b, "bias")
    if bi.shape != (cout,):
        raise ValueError(
            f"{what}: bias shape {bi.shape} does not match the {cout} output channels; "
            f"expected ({cout},)"
        )
    return bi


def _finish(acc: np.ndarray, acc_exp: int, b: np.ndarray | None, fp_b: int | None, *,
            fp_out: int, nonlinear: str, bit_width: int, round_mode: str) -> np.ndarray:
    if b is not None:
        acc, acc_exp = align_add(acc, acc_exp, b, fp_b)
    return output_fix(acc, acc_exp, fp_out=fp_out, nonlinear=nonlinear, bit_width=bit_width,
                      round_mode=round_mode)


# ---------------------------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------------------------


def conv2d_fix(x, w, b, *, fp_in: int, fp_w: int, fp_b: int | None = None, fp_out: int,
               stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), group: int = 1,
               nonlinear: str = "NONE", bit_width: int = 8,
               round_mode: str = "DPU_ROUND") -> np.ndarray:
    """Quantized 2-D convolution (conv2d-fix), NHWC in and out.

    ``x`` [N, H, W, C_in], ``w`` [C_out, kh, kw, C_in / group], ``b`` [C_out] or None.
    Output value = round_once(nonlinear(sum(x*w) * 2**-(fp_in+fp_w) + b * 2**-fp_b)) at
    ``fp_out``, saturated to ``bit_width`` bits.  Zero padding (left, right, top, bottom).
    """
    xi, wi, g = _grouped_operands(x, w, group, nonlinear, "conv2d")
    n_batch, h, wd, cin = xi.shape
    cout, kh, kw, cig = wi.shape
    bi = _bias(b, cout, "conv2d")
    i, fw, fb, o = _fix_positions(fp_in, fp_w, fp_b, fp_out, bi is not None)
    sw, sh = pair(stride, "stride")
    dw, dh = pair(dilation, "dilation")
    p = pads4(pad)
    oh = out_size(h, kh, sh, dh, p[2], p[3], "conv2d height")
    ow = out_size(wd, kw, sw, dw, p[0], p[1], "conv2d width")
    dtype = sum_dtype(max_abs(xi), max_abs(wi), kh * kw * cig, "conv2d")
    xp = pad_nhwc(xi.astype(dtype, copy=False), p)
    acc = conv2d_accumulate(xp, wi.astype(dtype, copy=False), stride=(sw, sh), dilation=(dw, dh),
                            group=g, out_hw=(oh, ow)).astype(np.int64)
    return _finish(acc, i + fw, bi, fb, fp_out=o, nonlinear=nonlinear, bit_width=bit_width,
                   round_mode=round_mode)


def depthwise_conv2d_fix(x, w, b, *, fp_in: int, fp_w: int, fp_b: int | None = None,
                         fp_out: int, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1),
                         nonlinear: str = "NONE", bit_width: int = 8,
                         round_mode: str = "DPU_ROUND") -> np.ndarray:
    """Quantized depthwise convolution (depthwise-conv2d-fix).

    ``x`` [N, H, W, C], ``w`` [M, kh, kw, C] (M = channel multiplier), ``b`` [C*M] or None.
    Output channel ``c*M + m`` = sum over taps of ``x[..., c] * w[m, ky, kx, c]``; then the same
    bias / nonlinear / single-rounding rule as conv2d_fix.
    """
    xi = as_int_tensor(x, "x", 4)
    wi = as_int_tensor(w, "w", 4)
    check_nonlinear(nonlinear)
    n_batch, h, wd, c = xi.shape
    mult, kh, kw, wc = wi.shape
    if wc != c:
        raise ValueError(
            f"depthwise_conv2d: x shape {xi.shape} and w shape {wi.shape} do not match; w must "
            f"be [multiplier, kh, kw, {c}]"
        )
    bi = _bias(b, c * mult, "depthwise_conv2d")
    i, fw, fb, o = _fix_positions(fp_in, fp_w, fp_b, fp_out, bi is not None)
    sw, sh = pair(stride, "stride")
    dw, dh = pair(dilation, "dilation")
    p = pads4(pad)
    oh = out_size(h, kh, sh, dh, p[2], p[3], "depthwise_conv2d height")
    ow = out_size(wd, kw, sw, dw, p[0], p[1], "depthwise_conv2d width")
    sum_dtype(max_abs(xi), max_abs(wi), kh * kw, "depthwise_conv2d")
    xp = pad_nhwc(xi, p)
    acc = np.zeros((n_batch, oh, ow, c, mult), dtype=np.int64)
    for ky in range(kh):
        y0 = ky * dh
        for kx in range(kw):
            x0 = kx * dw
            patch = xp[:, y0:y0 + (oh - 1) * sh + 1:sh, x0:x0 + (ow - 1) * sw + 1:sw, :]
            acc += patch[..., :, None] * wi[:, ky, kx, :].T[None, None, None, :, :]
    acc = acc.reshape(n_batch, oh, ow, c * mult)
    return _finish(acc, i + fw, bi, fb, fp_out=o, nonlinear=nonlinear, bit_width=bit_width,
                   round_mode=round_mode)


def transposed_conv_out_size(size: int, k: int, s: int, d: int, p0: int, p1: int, op: int,
                             what: str) -> int:
    """Output length of a transposed conv: (size-1)*s - p0 - p1 + d*(k-1) + op + 1."""
    if op >= max(s, d):
        raise ValueError(
            f"{what}: output_padding {op} must be smaller than the stride {s} or the dilation {d}"
        )
    n = (size - 1) * s - p0 - p1 + d * (k - 1) + op + 1
    if n < 1:
        raise ValueError(f"{what}: padding {p0}+{p1} leaves no output (size {n})")
    return n


def transposed_conv2d_fix(x, w, b, *, fp_in: int, fp_w: int, fp_b: int | None = None,
                          fp_out: int, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1),
                          group: int = 1, output_padding=(0, 0), nonlinear: str = "NONE",
                          bit_width: int = 8, round_mode: str = "DPU_ROUND") -> np.ndarray:
    """Quantized transposed convolution (transposed-conv2d-fix), PyTorch ConvTranspose2d geometry.

    ``w`` [C_out, kh, kw, C_in / group] is the scatter kernel: input pixel (iy, ix) adds
    ``x * w[o, ky, kx, i]`` to output pixel (iy*sh - top + ky*dh, ix*sw - left + kx*dw).  (For
    group=1 this is PyTorch's weight [C_in, C_out, kh, kw] permuted to (1, 2, 3, 0).)  Output
    size ``(H-1)*sh - top - bottom + dh*(kh-1) + output_padding_h + 1`` (same for width);
    ``output_padding`` is (w, h).  Equivalent to a stride-1 conv of the input with (s-1) zeros
    inserted between pixels, padded by d*(k-1) - pad on each side (plus output_padding at the
    bottom/right), with the spatially flipped kernel.  Bias / nonlinear / rounding as conv2d_fix.
    """
    xi, wi, g = _grouped_operands(x, w, group, nonlinear, "transposed_conv2d")
    n_batch, h, wd, cin = xi.shape
    cout, kh, kw, cig = wi.shape
    bi = _bias(b, cout, "transposed_conv2d")
    i, fw, fb, o = _fix_positions(fp_in, fp_w, fp_b, fp_out, bi is not None)
    sw, sh = pair(stride, "stride")
    dw, dh = pair(dilation, "dilation")
    opw, oph = pair(output_padding, "output_padding", minimum=0)
    p = pads4(pad)
    oh = transposed_conv_out_size(h, kh, sh, dh, p[2], p[3], oph, "transposed_conv2d height")
    ow = transposed_conv_out_size(wd, kw, sw, dw, p[0], p[1], opw, "transposed_conv2d width")
    dtype = sum_dtype(max_abs(xi), max_abs(wi), kh * kw * cig, "transposed_conv2d")
    acc = transposed_conv2d_accumulate(
        xi.astype(dtype, copy=False), wi.astype(dtype, copy=False), stride=(sw, sh), pad=p,
        dilation=(dw, dh), group=g, out_hw=(oh, ow),
    ).astype(np.int64)
    return _finish(acc, i + fw, bi, fb, fp_out=o, nonlinear=nonlinear, bit_width=bit_width,
                   round_mode=round_mode)


def dense_fix(x, w, b, *, fp_in: int, fp_w: int, fp_b: int | None = None, fp_out: int,
              nonlinear: str = "NONE", bit_width: int = 8,
              round_mode: str = "DPU_ROUND") -> np.ndarray:
    """Quantized fully connected layer: a 1x1 conv2d_fix on ``x`` [N, K] (or [N, 1, 1, K]) with
    ``w`` [out_features, K]; the output has the rank of ``x``."""
    xi = as_int_tensor(x, "x", (2, 4))
    wi = as_int_tensor(w, "w", 2)
    if xi.ndim == 4 and xi.shape[1:3] != (1, 1):
        raise ValueError(f"dense: a rank-4 x must be [N, 1, 1, K], got shape {xi.shape}")
    k = xi.shape[-1]
    if wi.shape[1] != k:
        raise ValueError(
            f"dense: x shape {xi.shape} and w shape {wi.shape} do not match; w must be "
            f"[out_features, {k}]"
        )
    x4 = xi.reshape(xi.shape[0], 1, 1, k)
    out = conv2d_fix(x4, wi.reshape(wi.shape[0], 1, 1, k), b, fp_in=fp_in, fp_w=fp_w, fp_b=fp_b,
                     fp_out=fp_out, nonlinear=nonlinear, bit_width=bit_width,
                     round_mode=round_mode)
    return out if xi.ndim == 4 else out.reshape(xi.shape[0], wi.shape[0])
