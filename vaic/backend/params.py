"""REG_0 CONST: parameters laid out so that LOAD copies them straight into the banks.

Rules:
- Conv weights of one chunk of output blocks (OCP output channels each): for weights bank ``j``,
  the lines of every block of the chunk, one after the other; a block's lines are kernel position
  ``(ky, kx)`` then input channel group ``c`` (``line = (ky*kw + kx) * CG + c``), ICP channels per
  line, input channels past Cin and output channels past Cout zero. So one LOAD per bank moves the
  whole chunk (bank ``j`` holds output channel ``j`` of every block, docs/isa.md §4.5).
- Conv biases: one byte per output channel, blocks padded to whole bias-bank lines.
- Depthwise weights of a chunk of G channel groups: byte ``k * G * ICP + ch`` is kernel position k of
  channel ch of the chunk; its biases follow in their own line-aligned blob.
Every blob starts on a 64-byte boundary; equal blobs are not deduplicated (a layer's blobs are its
own), so ``params_bytes`` of a layer is what it adds to CONST.
"""
from __future__ import annotations

import numpy as np

ALIGN = 64


class ConstBuilder:
    def __init__(self):
        self._parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> int:
        """Append ``data`` (64-byte aligned); returns its offset in REG_0."""
        pad = -self.size % ALIGN
        if pad:
            self._parts.append(b"\0" * pad)
            self.size += pad
        off = self.size
        self._parts.append(bytes(data))
        self.size += len(data)
        return off

    def blob(self) -> bytes:
        return b"".join(self._parts)


def conv_weight_chunk(w: np.ndarray, blocks: range, ocp: int, icp: int) -> bytes:
    """Weights [Cout, kh, kw, Cin] of output blocks ``blocks`` in bank order (module rule)."""
    cout, kh, kw, cin = w.shape
    cg = -(-cin // icp)
    nb = len(blocks)
    out = np.zeros((ocp, nb, kh, kw, cg * icp), dtype=np.int8)
    for i, b in enumerate(blocks):
        lo, hi = b * ocp, min((b + 1) * ocp, cout)
        if lo < hi:
            out[: hi - lo, i, :, :, :cin] = w[lo:hi]
    return out.tobytes()


def conv_bias(b: np.ndarray | None, cout: int, ocp: int, width: int) -> bytes:
    """One byte per output channel, each block of OCP padded to whole lines of ``width`` bytes."""
    nblocks = -(-cout // ocp)
    per = -(-ocp // width) * width
    out = np.zeros((nblocks, per), dtype=np.int8)
    if b is not None:
        flat = np.zeros(nblocks * ocp, dtype=np.int8)
        flat[:cout] = b
        out[:, :ocp] = flat.reshape(nblocks, ocp)
    return out.tobytes()


def dw_weight_chunk(w: np.ndarray, c0: int, channels: int, icp: int, width: int) -> bytes:
    """Depthwise weights [1, kh, kw, C] of channels ``c0 .. c0+channels`` (a chunk of whole groups):
    byte ``k * G * ICP + ch``, padded to whole lines of ``width``."""
    _, kh, kw, c = w.shape
    g = -(-channels // icp)
    out = np.zeros((kh * kw, g * icp), dtype=np.int8)
    hi = min(c0 + channels, c)
    out[:, : hi - c0] = w[0, :, :, c0:hi].reshape(kh * kw, hi - c0)
    data = out.tobytes()
    return data + b"\0" * (-len(data) % width)


def dw_bias_chunk(b: np.ndarray | None, c0: int, channels: int, icp: int, width: int) -> bytes:
    g = -(-channels // icp)
    out = np.zeros(g * icp, dtype=np.int8)
    if b is not None:
        hi = min(c0 + channels, b.shape[0])
        out[: hi - c0] = b[c0:hi]
    data = out.tobytes()
    return data + b"\0" * (-len(data) % width)
