"""Code for ``transposed-conv2d-fix`` (group 1, undilated): one CONV layer per output phase.

Rule: with torch's convention ``out[o] = sum in[i] * w[k]`` over ``o = i * s - p + k`` (per axis;
``p`` the padding before), output index ``o = q * s + r`` receives exactly the taps
``k = kr, kr + s, ...`` with ``kr = (r + p) mod s``, from input ``q + d - j`` for tap ``kr + j * s``,
``d = (r + p - kr) / s``. So output phase ``(ry, rx)`` is a stride-1 convolution of the input with the
phase's taps in reverse order (``J = ceil((k - kr) / s)`` of them) and padding ``J - 1 - d`` before
(an input crop where that is negative), written to the phase's strided view of the output buffer
(offset ``ry`` rows and ``rx`` pixels, ``s`` times the pixel and row strides). Same products, same
shifts, activation and rounding as the transposed conv: bit-exact. A phase with no taps (kernel
smaller than the stride) has no CONV form (TilingError).
"""
from __future__ import annotations


import numpy as np

import xir

from .context import Ctx
from .conv import conv_layer, operands
from .ddrplan import View
from .errors import TilingError
from .geometry import Window, image_dims
from .program import LayerStats


def phase(length_in: int, length_out: int, k: int, s: int, p: int, r: int):
    """One axis of output phase ``r``: (taps in CONV order, first input index, input count, pad
    before, pad after, outputs), or None when the phase has no outputs."""
    q = len(range(r, length_out, s))
    if q == 0:
        return None
    kr = (r + p) % s
    taps = list(range(kr, k, s))
    if not taps:
        raise ValueError(f"output phase {r} receives no kernel tap (kernel {k} < stride {s})")
    j = len(taps)
    d = (r + p - kr) // s
    pb = j - 1 - d
    first = max(0, -pb)
    pb = max(pb, 0)
    count = length_in - first
    pa = (q - 1) + j - count - pb
    if pa < 0:
        count += pa
        pa = 0
    return taps[::-1], first, count, pb, pa, q


def gen_tconv(ctx: Ctx, op: xir.Op) -> None:
    name = op.get_name()
    iv, ov, w, bias, sc, sb, act = operands(ctx, op, "transposed convolution")   # w: [cout, kh, kw, cin]
    x_t, y_t = op.get_input_tensor("input"), op.get_output_tensor()
    cout, kh, kw, cin = w.shape
    h, wd, _ = image_dims(x_t)
    ho, wo, _ = image_dims(y_t)
    sw, sh = op.get_attr_or_default("stride")
    pl, _, pt, _ = op.get_attr_or_default("pad")
    totals = [0, 0, 0]
    phases = 0
    for ry in range(sh):
        for rx in range(sw):
            try:
                py = phase(h, ho, kh, sh, pt, ry)
                px = phase(wd, wo, kw, sw, pl, rx)
            except ValueError as e:
                raise TilingError(name, str(e)) from None
            if py is None or px is None:
                continue
            tys, y0, ny, pty, pby, qy = py
            txs, x0, nx, ptx, pbx, qx = px
            sub = np.ascontiguousarray(w[:, tys][:, :, txs])
            src = View(iv.buf, iv.offset + y0 * iv.row + x0 * iv.pix, ny, nx, iv.c, iv.pix, iv.row)
            dst = View(ov.buf, ov.offset + ry * ov.row + rx * ov.pix, qy, qx, ov.c, sw * ov.pix, sh * ov.row)
            win = Window(ny, nx, cin, qy, qx, len(tys), len(txs), 1, 1, pty, pby, ptx, pbx)
            got = conv_layer(ctx, name, win, src, dst, sub, bias, sc, sb, act)
            totals = [a + b for a, b in zip(totals, got)]
            phases += 1
    ctx.stats.append(LayerStats(name, "conv", *totals))
    ctx.log.append(f"{name}: transposed conv {kh}x{kw}/{sh} {cin}->{cout} {h}x{wd} as {phases} phase conv(s)")
