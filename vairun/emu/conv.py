"""CONVINIT and CONV (docs/isa.md §5.4): one output block of a convolution.

Rules enforced here:

* CONV uses the most recent CONVINIT (kernel, strides, shifts, activation, placement); a CONV before
  any CONVINIT is a fault.
* A CONV computes R = ``valid_pixel_parallel`` rows x ``length`` columns x OCP output channels from
  ``channel_group`` input channel groups, the last group's tail masked by ``channel_offset``.
* Weights: bank ``j`` of the weights group holds output channel ``j``; kernel position (ky, kx) and
  channel group c are line ``bank_addr_weights + (ky * kernel_w + kx) * channel_group + c``, i.e.
  the ``kernel_h * kernel_w * channel_group`` lines from ``bank_addr_weights`` are exactly one row of
  the im2col weight matrix. Biases: OCP int8 bytes of the bias bank from ``bank_addr_bias``.
* ``acc`` = the exact sum over kernel positions and input channels of x * w;
  ``v = (acc + bias * 2**shift_bias) / 2**shift_cut``; activation; one rounding; int8 saturation.
* Output channels span ``ceil(OCP / width)`` lines per pixel, written by the write rule.

Execution: the input windows are gathered straight into im2col form (one ``np.take`` per chunk of
at most 1024 reduction terms, so every float32 BLAS product is exact, numerics.py) and multiplied
with the weight matrix. The channel mask is applied to the weight matrix instead of the inputs
(``x * 0 == 0``: the same exact sum, on far fewer elements). Consecutive CONVs over the same input
block (one per group of OCP output channels) reuse the float im2col block, and CONVs reusing
weights reuse their float matrix, as long as no write has touched the bank group since (the
groups' version counters, banks.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import blocks
from .banks import Pixels
from .faults import fault
from .numerics import F32_EXACT_TERMS, finish_biased


@dataclass(slots=True)
class ConvPlan:
    """Everything a CONV needs at run time, computed (and checked) once per distinct instruction."""

    gi_in: int
    chunks: tuple[tuple[int, int, np.ndarray], ...]  # (first K term, last K term + 1, flat global lines)
    rows: int
    length: int
    lines: int               # kh * kw * G weight lines per output channel
    masked: np.ndarray | None  # K terms whose weights read as zero (channel_offset)
    w_gi: int
    w_line: int
    w_key: tuple             # identifies the float weight matrix (start line, taps, groups, mask)
    bias_span: tuple[int, int, int]
    shift_cut: int
    shift_bias: int
    act: int
    out: Pixels


def execute_convinit(m, instr) -> None:
    """CONVINIT: replace the conv engine's state."""
    m.set_init(instr)


def execute_conv(m, op) -> None:
    """CONV: gather the im2col block, multiply with the weights in BLAS, finish, write OCP channels."""
    init, ikey = m.need_init("CONVINIT", op.kind)
    key = ("CONV", ikey, tuple(op.fields.values()))
    plan = m.plans.get(key)
    if plan is None:
        plan = m.remember(key, _plan(m, init, op))
    _run(m, plan)


def _plan(m, init, op) -> ConvPlan:
    t, banks = m.target, m.banks
    rows = init["valid_pixel_parallel"]
    blocks.check_rows(rows, t.pp)
    groups, length, co = op["channel_group"], op["length"], op["channel_offset"]
    kh, kw = init["kernel_h"], init["kernel_w"]
    nlines = kh * kw * groups
    # CONVs over the same input block share one (checked) chunks object: the im2col cache compares
    # identity, and the input geometry is built and checked once
    in_key = ("CONV-IN", kh, kw, init["stride_h"], init["stride_w"], init["stride_offset_in"],
              init["jump_read"], init["jump_read_endl"], rows) + tuple(
        op[f] for f in ("bank_id_in", "bank_addr_in", "bank_addr_in_1", "bank_addr_in_2", "bank_addr_in_3",
                        "pad_top", "pad_bottom", "pad_left", "pad_right", "channel_group", "length"))
    source = m.plans.get(in_key)
    if source is None:
        gi_in, idx = blocks.input_windows(m, init, op, rows=rows, length=length, kernel=(kh, kw),
                                          stride=(init["stride_h"], init["stride_w"]), groups=groups,
                                          jump=init["jump_read"], pad_min=False)
        width = banks.groups[gi_in].width
        idx = idx.reshape(rows * length, nlines)
        step = max(1, F32_EXACT_TERMS // width)
        chunks = tuple((l0 * width, min(l0 + step, nlines) * width,
                        np.ascontiguousarray(idx[:, l0:l0 + step]).ravel()) for l0 in range(0, nlines, step))
        source = m.remember(in_key, (gi_in, chunks))
    gi_in, chunks = source
    width = banks.groups[gi_in].width
    blocks.check_mask(co, width)
    wg = t.weights_group
    w_gi = banks.locate(wg.first_id, "weights")
    if wg.width != width:
        raise fault(f"input lines hold {width} channels but weights lines hold {wg.width}", bank=wg.first_id)
    banks.check_lines(wg.first_id, op["bank_addr_weights"], op["bank_addr_weights"] + nlines - 1, "weights")
    bias_span = banks.byte_span(t.bias_group.first_id, op["bank_addr_bias"], t.ocp, "bias")
    ocp_lines = -(-t.ocp // width)
    gi_out, starts = blocks.output_rows(m, init, op, rows=rows, length=length, jump=init["jump_write"],
                                        lines_per_pixel=ocp_lines)
    masked = None
    if co:
        last_group = np.arange(kh * kw) * groups + groups - 1
        masked = (last_group[:, None] * width + np.arange(width - co, width)).ravel()
    w_key = (op["bank_addr_weights"], kh * kw, groups, co)
    out = Pixels(banks, gi_out, starts, t.ocp).check_distinct(banks, "output")
    return ConvPlan(gi_in, chunks, rows, length, nlines, masked, w_gi, op["bank_addr_weights"], w_key, bias_span,
                    init["shift_cut"], init["shift_bias"], init["act_type"], out)


def _weights(m, p: ConvPlan) -> np.ndarray:
    """The float32 weight matrix [batch, OCP, K] (masked), from the cache while the weights group is
    unchanged."""
    banks = m.banks
    version = banks.version[p.w_gi]
    if m.conv_weights[0] != version or len(m.conv_weights[1]) > 4096:
        m.conv_weights = (version, {})
    cache = m.conv_weights[1]
    w = cache.get(p.w_key)
    if w is None:
        wv = banks.lines_view(p.w_gi)
        b, ocp, width = wv.shape[0], wv.shape[1], wv.shape[3]
        w = np.empty((b, ocp, p.lines * width), dtype=np.float32)
        np.copyto(w, wv[:, :, p.w_line:p.w_line + p.lines, :].reshape(b, ocp, -1))
        if p.masked is not None:
            w[:, :, p.masked] = 0
        cache[p.w_key] = w
    return w


def _im2col(m, p: ConvPlan) -> list[np.ndarray]:
    """The float32 im2col chunks [batch, R*L, k1-k0] of the input block, reused while the same input
    block is read again and its group is unchanged."""
    version = m.banks.version[p.gi_in]
    cached = m.conv_cols
    if cached is not None and cached[0] is p.chunks and cached[1] == version:
        return cached[2]
    b = m.batch
    m_rows = p.rows * p.length
    cols = []
    for i, (k0, k1, idx) in enumerate(p.chunks):
        lines = blocks.gather(m, p.gi_in, idx, "conv_lines")
        colsf = m.scratch.get(f"conv_f32_{i}", (b, m_rows, k1 - k0), np.float32)
        np.copyto(colsf, lines.reshape(b, m_rows, k1 - k0))
        cols.append(colsf)
    m.conv_cols = (p.chunks, version, cols)
    return cols


def _run(m, p: ConvPlan) -> None:
    banks = m.banks
    b = banks.batch
    m_rows = p.rows * p.length
    w = _weights(m, p)
    acc = None
    for (k0, k1, _), colsf in zip(p.chunks, _im2col(m, p)):
        part = np.matmul(colsf, w[:, :, k0:k1].transpose(0, 2, 1))
        if acc is None:
            acc = part if len(p.chunks) == 1 else part.astype(np.float64)
        else:
            acc += part
    ocp = w.shape[1]
    bias = banks.read_span(p.bias_span).astype(np.int64)
    out = finish_biased(acc.reshape(b * m_rows, ocp), bias, m_rows, p.shift_bias, p.shift_cut, p.act)
    p.out.write(banks, out.reshape(b, p.rows, p.length, ocp))
