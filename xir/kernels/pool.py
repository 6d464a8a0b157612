"""Reference kernels of pooling: max-pool, average pool (DPU factor/shift form), global average.

Geometry (both pools): NHWC, ``kernel`` (kw, kh), ``stride`` (sw, sh), ``pad``
(left, right, top, bottom), PyTorch output size rule including ``ceil_mode`` (a last window that
would start in the trailing padding is dropped; a last window that overhangs the padded input is
kept and the overhang counts as padding).

* Max-pool: padding never wins (it is -inf); a window holding no input element is an error.  The
  maximum is requantized exactly from ``fp_in`` to ``fp_out`` (identity when they are equal, which
  the DPU requires).
* Average pool: ``sum * factor / 2**shift`` with zero padding and the (factor, shift) of
  fixpoint.avgpool_factor_shift(kh, kw), i.e. every window, padded or not, is divided by the same
  approximation of kh*kw (count_include_pad=True, the only form the DPU has).
"""

from __future__ import annotations

import numpy as np

from .. import fixpoint
from ._common import as_int, as_int_tensor, out_size, pad_nhwc, pads4, pair
from .activation import check_nonlinear, output_fix

__all__ = ["maxpool_fix", "avgpool_fix", "global_avgpool_fix", "pool_geometry"]


def pool_geometry(shape, kernel, stride, pad, ceil_mode: bool, what: str):
    """Validate pooling arguments; return (kw, kh, sw, sh, pad, oh, ow, extra_h, extra_w) where
    extra_h/extra_w are the bottom/right overhang rows a ceil_mode window needs beyond the pad."""
    _, h, w, _ = shape
    kw, kh = pair(kernel, "kernel")
    sw, sh = pair(stride, "stride")
    p = pads4(pad)
    oh = out_size(h, kh, sh, 1, p[2], p[3], f"{what} height", bool(ceil_mode))
    ow = out_size(w, kw, sw, 1, p[0], p[1], f"{what} width", bool(ceil_mode))
    extra_h = max(0, (oh - 1) * sh + kh - (h + p[2] + p[3]))
    extra_w = max(0, (ow - 1) * sw + kw - (w + p[0] + p[1]))
    return kw, kh, sw, sh, p, oh, ow, extra_h, extra_w


def _windows(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, oh: int, ow: int):
    for ky in range(kh):
        for kx in range(kw):
            yield xp[:, ky:ky + (oh - 1) * sh + 1:sh, kx:kx + (ow - 1) * sw + 1:sw, :]


def maxpool_fix(x, *, fp_in: int, fp_out: int, kernel, stride, pad=(0, 0, 0, 0),
                ceil_mode: bool = False, bit_width: int = 8,
                round_mode: str = "DPU_ROUND") -> np.ndarray:
    """Quantized max-pool (pool-fix MAX): window maximum, padding never wins, then an exact
    requantization from fp_in to fp_out (one rounding if fp_out < fp_in)."""
    xi = as_int_tensor(x, "x", 4)
    i = as_int(fp_in, "fp_in")
    kw, kh, sw, sh, p, oh, ow, eh, ew = pool_geometry(xi.shape, kernel, stride, pad, ceil_mode,
                                                      "maxpool")
    valid = pad_nhwc(np.ones((1,) + xi.shape[1:3] + (1,), dtype=bool), p, eh, ew, value=False)
    seen = np.zeros((1, oh, ow, 1), dtype=bool)
    for win in _windows(valid, kh, kw, sh, sw, oh, ow):
        seen |= win
    if not seen.all():
        raise ValueError(
            "maxpool: some windows cover only padding; reduce the padding below the kernel size"
        )
    sentinel = np.iinfo(np.int64).min
    xp = pad_nhwc(xi, p, eh, ew, value=sentinel)
    out = np.full((xi.shape[0], oh, ow, xi.shape[3]), sentinel, dtype=np.int64)
    for win in _windows(xp, kh, kw, sh, sw, oh, ow):
        np.maximum(out, win, out=out)
    return output_fix(out, i, fp_out=fp_out, bit_width=bit_width, round_mode=round_mode)


def avgpool_fix(x, *, fp_in: int, fp_out: int, kernel, stride, pad=(0, 0, 0, 0),
                count_include_pad: bool = True, ceil_mode: bool = False,
                nonlinear: str = "NONE", bit_width: int = 8,
                round_mode: str = "DPU_ROUND") -> np.ndarray:
    """Quantized average pool (pool-fix AVG): value ``sum * factor * 2**-(shift + fp_in)`` with
    (factor, shift) = avgpool_factor_shift(kh, kw), zero padding, nonlinear, one rounding to fp_out.

    ``count_include_pad=False`` is accepted only when no window touches padding or a ceil_mode
    overhang (then both forms agree); otherwise ValueError, and the op belongs on the CPU.
    """
    xi = as_int_tensor(x, "x", 4)
    check_nonlinear(nonlinear)
    i = as_int(fp_in, "fp_in")
    kw, kh, sw, sh, p, oh, ow, eh, ew = pool_geometry(xi.shape, kernel, stride, pad, ceil_mode,
                                                      "avgpool")
    if not count_include_pad and (any(p) or eh or ew):
        raise ValueError(
            "avgpool: count_include_pad=False with padding is not a DPU operation (the DPU "
            "divides every window by kh*kw); run this pool with the float kernels on the CPU"
        )
    factor, shift = fixpoint.avgpool_factor_shift(kh, kw)
    xp = pad_nhwc(xi, p, eh, ew)
    acc = np.zeros((xi.shape[0], oh, ow, xi.shape[3]), dtype=np.int64)
    for win in _windows(xp, kh, kw, sh, sw, oh, ow):
        acc += win
    return output_fix(acc * factor, i + shift, fp_out=fp_out, nonlinear=nonlinear,
                      bit_width=bit_width, round_mode=round_mode)


def global_avgpool_fix(x, *, fp_in: int, fp_out: int, nonlinear: str = "NONE",
                       bit_width: int = 8, round_mode: str = "DPU_ROUND") -> np.ndarray:
    """Global average pool: avgpool_fix with kernel = stride = (W, H); output [N, 1, 1, C]."""
    xi = as_int_tensor(x, "x", 4)
    h, w = xi.shape[1:3]
    return avgpool_fix(xi, fp_in=fp_in, fp_out=fp_out, kernel=(w, h), stride=(w, h),
                       nonlinear=nonlinear, bit_width=bit_width, round_mode=round_mode)
