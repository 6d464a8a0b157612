"""DWINIT and DPTWISE as the reference executor runs them: depthwise convolution of one block."""

from __future__ import annotations

import numpy as np

from . import blocks
from .faults import fault
from .numerics import add_bias, finish


def depthwise_spans(m, op, taps: int, channels: int, bias_bytes: int):
    """The checked byte spans of the depthwise weights (``taps * channels`` bytes of the first
    depthwise-weights bank from line ``bank_addr_weights``) and of the biases (``bias_bytes`` bytes of
    the bias bank from line ``bank_addr_bias``), docs/isa.md §4.5."""
    dw = m.target.dwweights_group
    if dw is None:
        raise fault(f"target {m.target.name} has no depthwise-weights bank")
    w_span = m.banks.byte_span(dw.first_id, op["bank_addr_weights"], taps * channels, "depthwise weights")
    bias_span = m.banks.byte_span(m.target.bias_group.first_id, op["bank_addr_bias"], bias_bytes, "bias")
    return w_span, bias_span


def depthwise_sum(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact per-channel tap sums: windows ``x`` [B, M, taps, C] times weights ``w`` [B, taps, C]
    (int8 values) -> int64 [B, M, C]."""
    return np.einsum("bmtc,btc->bmc", x.astype(np.int64), w.astype(np.int64))


def dwinit(m, instr) -> None:
    """DWINIT (docs/isa.md §5.7, §6): "DWINIT sets the depthwise state (kernel, strides, shifts,
    activation, jumps, placement)"; it persists until the next DWINIT."""
    m.set_init(instr)


def dptwise(m, op) -> None:
    """DPTWISE (docs/isa.md §5.7, §4.5): R = `valid_pixel_parallel` (of the DPTWISE) rows by `length`
    columns by `channel_group` lines: "output channel `ch` is input channel `ch` convolved with its own
    kernel from the depthwise-weights bank, plus `bias * 2^shift_bias`, divided by `2^shift_cut`,
    activated, rounded once"; "the weight of kernel position `k = ky * kernel_w + kx` for channel `ch`
    is byte `k * channel_group * ICP + ch`" from line `bank_addr_weights`; the bias is byte `ch` of the
    bias bank from line `bank_addr_bias`. Padding and `channel_offset` work as in CONV."""
    init = m.need_init("DWINIT", op.kind)[0]
    kernel = (init["kernel_h"], init["kernel_w"])
    x, out = blocks.window_block(m, init, op, rows=op["valid_pixel_parallel"], kernel=kernel,
                                 stride=(init["stride_h"], init["stride_w"]), jump_read=init["jump_read"],
                                 jump_write=init["jump_write"], channel_offset=op["channel_offset"],
                                 pad_min=False)
    taps, channels = kernel[0] * kernel[1], op["channel_group"] * m.target.icp
    w_span, bias_span = depthwise_spans(m, op, taps, channels, channels)
    w = m.banks.read_span(w_span).reshape(m.batch, taps, channels)
    bias = m.banks.read_span(bias_span).astype(np.int64)[:, None, :]   # [B, 1, C]
    n, e = add_bias(depthwise_sum(x, w), bias, init["shift_bias"], init["shift_cut"])
    out.write(m.banks, finish(n, e, init["act_type"]).reshape((m.batch,) + out.shape + (-1,)))
