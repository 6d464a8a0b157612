"""CONVINIT and CONV (docs/isa.md §5.4): one output block of a convolution.

The fast executor's version: the rules are the reference executor's (vairun/emu/conv.py, which
quotes docs/isa.md), and the results and faults are the same (tests/vairun/test_emu_reference.py);
this module computes them with plans checked once per distinct instruction.

Execution: the input windows are gathered straight into im2col form (one ``np.take`` per chunk of
at most 1024 reduction terms, so every float32 BLAS product is exact, finish.py) and multiplied
with the weight matrix. Masked channels contribute exactly 0 to the sum: when they are a large part
of the block (``4 * channel_offset >= channel_group * width``, e.g. a 3-channel image in 16-channel
lines) they are left out of the reduction altogether (gathered byte by byte); otherwise the whole
lines are gathered and the masked weights are zeroed (``x * 0 == 0``). Finishing takes the fast
exact path of finish.py (:class:`FastFinish`, whose factor ``2**(a - e)`` is folded into the
weight matrix) wherever it is provably identical to the reference, else the reference.

Per instruction (:func:`execute_conv`): consecutive CONVs over the same input block reuse the float
im2col block, and CONVs reusing weights reuse their float matrix, as long as no write has touched
the bank group since (the groups' version counters, banks.py). Fused (:class:`ConvGroup`, used by
program.py): consecutive CONVs over the same input block become one matmul with all their output
channels side by side, one finishing pass and one scatter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import blocks
from .window import gather
from ..banks import Pixels
from ..faults import fault
from .moves import Mover, Runs, dest_view
from ..numerics import MAX_PRODUCT, finish_biased
from . import accel
from .native import RowsKernel
from .finish import F32_EXACT_TERMS, FastFinish, add_offsets, fast_finish, int32_finish
from .plans import planned, remember



@dataclass(slots=True, eq=False)
class ConvInput:
    """The im2col geometry of one input block, shared (by identity) by every CONV that reads it."""

    gi: int
    rows: int
    length: int
    terms: int               # reduction terms K (masked channels left out when ``by_bytes``)
    by_bytes: bool           # gathered byte by byte without the masked channels, else as whole lines
    chunks: tuple[tuple[int, int, np.ndarray], ...]  # (first term, last term + 1, flat gather indices)
    whole: np.ndarray        # flat gather indices of all terms at once (the integer GEMM's block)
    lines: np.ndarray        # sorted global lines the block reads (sentinels included)

    @property
    def pixels(self) -> int:
        return self.rows * self.length


@dataclass(slots=True, eq=False)
class ConvPlan:
    """Everything a CONV needs at run time, computed (and checked) once per distinct instruction."""

    inp: ConvInput
    w_gi: int
    w_line: int
    nlines: int              # kh * kw * G weight lines per output channel
    w_terms: np.ndarray | None  # byte of the nlines * width weight bytes of every term (by_bytes)
    w_masked: np.ndarray | None  # terms whose weights read as zero (whole-line gather with a mask)
    w_key: tuple             # identifies the weight matrix (start line, lines, terms, mask)
    bias_span: tuple[int, int, int]
    shift_cut: int
    shift_bias: int
    act: int
    ff: FastFinish | None    # the fast finishing path, None where only the reference is safe
    ocp: int
    out: Pixels


def execute_convinit(m, instr) -> None:
    """CONVINIT: replace the conv engine's state."""
    m.set_init(instr)


def execute_conv(m, op) -> ConvPlan:
    """CONV: gather the im2col block, multiply with the weights in BLAS, finish, write OCP channels."""
    init, ikey = m.need_init("CONVINIT", op.kind)
    key = ("CONV", ikey, tuple(op.fields.values()))
    plan = planned(m, key, lambda: _plan(m, init, op))
    run_conv(m, plan)
    return plan


def _plan(m, init, op) -> ConvPlan:
    t, banks = m.target, m.banks
    rows = init["valid_pixel_parallel"]
    blocks.check_rows(rows, t.pp)
    groups, length, co = op["channel_group"], op["length"], op["channel_offset"]
    kh, kw = init["kernel_h"], init["kernel_w"]
    taps = kh * kw
    nlines = taps * groups
    # CONVs over the same input block share one (checked) ConvInput: the im2col cache and the fused
    # groups compare identity, and the input geometry is built and checked once
    in_key = ("CONV-IN", kh, kw, init["stride_h"], init["stride_w"], init["stride_offset_in"],
              init["jump_read"], init["jump_read_endl"], rows) + tuple(
        op[f] for f in ("bank_id_in", "bank_addr_in", "bank_addr_in_1", "bank_addr_in_2", "bank_addr_in_3",
                        "pad_top", "pad_bottom", "pad_left", "pad_right", "channel_group", "length",
                        "channel_offset"))
    inp = m.plans.get(in_key)
    if inp is None:
        gi_in, idx = blocks.input_windows(m, init, op, rows=rows, length=length, kernel=(kh, kw),
                                          stride=(init["stride_h"], init["stride_w"]), groups=groups,
                                          jump=init["jump_read"], pad_min=False)
        width = banks.groups[gi_in].width
        blocks.check_mask(co, width)
        inp = remember(m, in_key, _input(gi_in, idx.reshape(rows * length, nlines), rows, length, taps, groups,
                                        width, co))
    width = banks.groups[inp.gi].width
    wg = t.weights_group
    w_gi = banks.locate(wg.first_id, "weights")
    if wg.width != width:
        raise fault(f"input lines hold {width} channels but weights lines hold {wg.width}", bank=wg.first_id)
    banks.check_lines(wg.first_id, op["bank_addr_weights"], op["bank_addr_weights"] + nlines - 1, "weights")
    bias_span = banks.byte_span(t.bias_group.first_id, op["bank_addr_bias"], t.ocp, "bias")
    ocp_lines = -(-t.ocp // width)
    gi_out, starts = blocks.output_rows(m, init, op, rows=rows, length=length, jump=init["jump_write"],
                                        lines_per_pixel=ocp_lines)
    w_terms = w_masked = None
    if co and inp.by_bytes:
        w_terms = _kept_terms(taps, groups, width, co)
    elif co:
        last_group = np.arange(taps) * groups + groups - 1
        w_masked = (last_group[:, None] * width + np.arange(width - co, width)).ravel()
    w_key = (op["bank_addr_weights"], nlines, co, inp.by_bytes)
    out = Pixels(banks, gi_out, starts, t.ocp).check_distinct(banks, "output")
    ff = fast_finish(inp.terms * MAX_PRODUCT, init["shift_bias"], init["shift_cut"], init["act_type"])
    return ConvPlan(inp, w_gi, op["bank_addr_weights"], nlines, w_terms, w_masked, w_key, bias_span,
                    init["shift_cut"], init["shift_bias"], init["act_type"], ff, t.ocp, out)


def _kept_terms(taps: int, groups: int, width: int, co: int) -> np.ndarray:
    """Byte offsets (within the taps * groups lines) of the channels a mask of ``co`` keeps."""
    keep = np.ones((taps, groups, width), dtype=bool)
    keep[:, -1, width - co:] = False
    return np.flatnonzero(keep)


def _input(gi: int, idx: np.ndarray, rows: int, length: int, taps: int, groups: int, width: int,
           co: int) -> ConvInput:
    """The gather chunks of a block: ``idx`` [R*L, taps*G] global lines."""
    nlines = taps * groups
    by_bytes = bool(co) and 4 * co >= groups * width
    lines = np.unique(idx)
    if by_bytes:
        kept = _kept_terms(taps, groups, width, co)
        byte_idx = (idx[:, kept // width] * width + kept % width)
        terms = kept.size
        chunks = tuple((k0, min(k0 + F32_EXACT_TERMS, terms),
                        np.ascontiguousarray(byte_idx[:, k0:k0 + F32_EXACT_TERMS]).ravel())
                       for k0 in range(0, terms, F32_EXACT_TERMS))
        whole = byte_idx.ravel()
    else:
        step = max(1, F32_EXACT_TERMS // width)
        terms = nlines * width
        chunks = tuple((l0 * width, min(l0 + step, nlines) * width,
                        np.ascontiguousarray(idx[:, l0:l0 + step]).ravel()) for l0 in range(0, nlines, step))
        whole = idx.ravel()
    if len(chunks) == 1:
        whole = chunks[0][2]
    return ConvInput(gi, rows, length, terms, by_bytes, chunks, np.ascontiguousarray(whole), lines)


# ------------------------------------------------------------------ shared pieces


def gather_cols(m, inp: ConvInput, ones: bool = False) -> list[np.ndarray]:
    """The float32 im2col chunks ``[batch, R*L, k1 - k0]`` of the block (scratch buffers, valid until
    the next gather); ``ones``: the last chunk has one more column, all 1."""
    banks = m.banks
    b = banks.batch
    mp = inp.pixels
    cols = []
    last = len(inp.chunks) - 1
    for i, (k0, k1, idx) in enumerate(inp.chunks):
        if inp.by_bytes:
            raw = m.scratch.get("conv_bytes", (b, idx.size), np.int8)
            np.take(banks.flat[inp.gi], idx, axis=1, out=raw, mode="clip")
        else:
            raw = gather(m, inp.gi, idx, "conv_lines")
        extra = 1 if ones and i == last else 0
        colsf = m.scratch.get(f"conv_f32_{i}", (b, mp, k1 - k0 + extra), np.float32)
        if extra:
            np.copyto(colsf[..., :k1 - k0], raw.reshape(b, mp, k1 - k0))
            colsf[..., -1] = 1.0
        else:
            np.copyto(colsf, raw.reshape(b, mp, k1 - k0))
        cols.append(colsf)
    return cols


def gather_block(m, inp: ConvInput) -> np.ndarray:
    """The int8 im2col block ``[batch * R*L, K]`` of ``inp`` (all terms at once; a scratch buffer,
    valid until the next gather)."""
    banks = m.banks
    b = banks.batch
    if inp.by_bytes:
        raw = m.scratch.get("conv_bytes", (b, inp.whole.size), np.int8)
        np.take(banks.flat[inp.gi], inp.whole, axis=1, out=raw, mode="clip")
    else:
        raw = gather(m, inp.gi, inp.whole, "conv_lines")
    return raw.reshape(b * inp.pixels, inp.terms)


def weight_matrix(m, p: ConvPlan, scale: float | None, first_only: bool = False) -> np.ndarray:
    """The weight matrix ``[batch, K, OCP]`` of ``p`` read from the banks now: float32 times
    ``scale`` (a power of two: exact), or int8 for ``scale`` None; masked channels zero or left out
    (``first_only``: image 0 only)."""
    wv = m.banks.lines_view(p.w_gi)
    if first_only:
        wv = wv[:1]
    b, width = wv.shape[0], wv.shape[3]
    raw = wv[:, :p.ocp, p.w_line:p.w_line + p.nlines, :].reshape(b, p.ocp, p.nlines * width)
    if p.w_terms is not None:
        raw = raw[:, :, p.w_terms]
    w = np.empty((b, raw.shape[2], p.ocp), dtype=np.int8 if scale is None else np.float32)
    np.copyto(w, raw.transpose(0, 2, 1))
    if p.w_masked is not None:
        w[:, p.w_masked, :] = 0
    if scale is not None and scale != 1.0:
        w *= np.float32(scale)
    return w


def matmul_chunks(cols: list[np.ndarray], inp: ConvInput, w: np.ndarray) -> np.ndarray:
    """Exact ``sum_k cols[..., k] * w[..., k, :]``: float32 when one chunk, else float64 (chunk sums
    are exact float32, and their float64 sum stays below 2**53)."""
    acc = None
    for (k0, k1, _), c in zip(inp.chunks, cols):
        part = np.matmul(c, w[..., k0:k1, :])
        if acc is None:
            acc = part if len(inp.chunks) == 1 else part.astype(np.float64)
        else:
            acc += part
    return acc


def finish_block(p: ConvPlan, acc: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """int8 ``[batch, M, N]`` results of the exact accumulators ``acc`` ``[batch, M, N]`` (scaled by
    ``p.ff.acc_scale`` on the float route) with the int8 biases ``bias`` ``[batch, N]``."""
    ff = p.ff
    b, mp, n = acc.shape
    if ff is None:
        return finish_biased(acc.reshape(b * mp, n), bias.astype(np.int64), mp, p.shift_bias, p.shift_cut,
                             p.act).reshape(b, mp, n)
    if ff.is_float:
        return ff.finish_scaled(add_offsets(acc, ff.offsets(bias)[:, None, :]))
    return ff.apply(acc, bias[:, None, :])



# ------------------------------------------------------------------ one CONV


def _weights(m, p: ConvPlan, scale: float) -> np.ndarray:
    """:func:`weight_matrix` from the cache while the weights group is unchanged."""
    banks = m.banks
    version = banks.version[p.w_gi]
    if m.conv_weights[0] != version or len(m.conv_weights[1]) > 4096:
        m.conv_weights = (version, {})
    cache = m.conv_weights[1]
    key = p.w_key + (scale,)
    w = cache.get(key)
    if w is None:
        w = cache[key] = weight_matrix(m, p, scale)
    return w


def _im2col(m, inp: ConvInput) -> list[np.ndarray]:
    """:func:`gather_cols`, reused while the same input block is read again and its group is
    unchanged."""
    version = m.banks.version[inp.gi]
    cached = m.conv_cols
    if cached is not None and cached[0] is inp and cached[1] == version:
        return cached[2]
    cols = gather_cols(m, inp)
    m.conv_cols = (inp, version, cols)
    return cols


def run_conv(m, p: ConvPlan) -> None:
    """Execute one planned CONV."""
    banks = m.banks
    b = banks.batch
    ff = p.ff
    scale = ff.acc_scale if ff is not None else 1.0
    acc = matmul_chunks(_im2col(m, p.inp), p.inp, _weights(m, p, scale))
    out = finish_block(p, acc, banks.read_span(p.bias_span))
    p.out.write(banks, out.reshape(b, p.inp.rows, p.inp.length, p.ocp))


# ------------------------------------------------------------------ fused CONVs


def output_runs(plans: list[ConvPlan], width: int) -> dict[int, Runs]:
    """Byte runs from the fused result ``[M, sum OCP]`` (flat per image) to every output group."""
    total = sum(p.ocp for p in plans)
    mp = plans[0].inp.pixels
    parts: dict[int, list[Runs]] = {}
    col = 0
    for p in plans:
        starts = p.out.starts.reshape(mp)
        parts.setdefault(p.out.gi, []).append(
            Runs.of(starts * width, np.arange(mp, dtype=np.int64) * total + col, p.ocp))
        col += p.ocp
    return {gi: Runs.concat(rs) for gi, rs in parts.items()}


def can_follow(group: list[ConvPlan], p: ConvPlan) -> bool:
    """Whether CONV ``p`` may join the fused ``group`` (executed right after its last member)."""
    first = group[0]
    if p.inp is not first.inp or p.ff is None or first.ff is None:
        return False
    if (p.ff.a, p.ff.b, p.ff.e, p.ff.act, p.ff.dtype) != (first.ff.a, first.ff.b, first.ff.e, first.ff.act,
                                                          first.ff.dtype):
        return False
    # a member that writes lines of the shared input block would change what later members read
    # (the members before the last one were checked when their successors joined)
    last = group[-1]
    return not (last.out.gi == last.inp.gi and last.out.touches(last.inp.lines))


class ConvGroup:
    """Consecutive CONVs over one input block, executed as one matmul ``[B*M, K] x [K, sum OCP]``,
    one finishing pass and one scatter (program.py).

    Equivalence with executing them one by one: they read the same input lines, which no member but
    the last writes (:func:`can_follow`), so every member reads what it would read executed alone;
    weights and biases live in banks no CONV writes; the finishing is
    elementwise with the same :class:`FastFinish` for all; output bytes written by several members
    take the last member's value (moves.py). ``const_params``: the builder proved that every weight
    and bias line they read was last written, in this run, by a LOAD from a register shared by the
    batch; the weight matrix and the offsets are then the same for every image and a function of the
    shared registers' contents, cached under their key.

    On the integer route (torch's GEMM, accel.py) the int32 results are finished by the compiled
    kernel straight into every member's output pixels where it is in use (native.py), else by
    :class:`vairun.emu.fast.finish.Int32Finish` into the output bank or a buffer then scattered.

    On the float32 route with one reduction chunk the finishing offsets ride in the matmul: a column
    of ones is appended to the im2col block and the offsets row to the weight matrix, so the product
    is ``t = acc * acc_scale + offsets`` directly. Exact: every product and every partial sum, in any
    order, is an integer multiple of ``2**-e`` of magnitude at most the bound :func:`fast_finish`
    checked against 2**24 (``|n| + 2**(e-1) + off * 2**e``).
    """

    def __init__(self, plans: list[ConvPlan], banks, const_params: bool):
        self.plans = plans
        self.inp = plans[0].inp
        self.ff = plans[0].ff
        self.const_params = const_params
        self.width = banks.groups[self.inp.gi].width
        self.n = sum(p.ocp for p in plans)
        self.fold = self.ff.dtype is np.float32 and len(self.inp.chunks) == 1
        self._cache = (None, None, None)   # (key, weights, offsets), replaced as a whole
        # the integer route (accel.py): int8 products into int32, finished in int32 where exact
        acc_bound = self.inp.terms * MAX_PRODUCT
        self.gemm = accel.kernels().gemm if self.inp.terms <= accel.MAX_TERMS else None
        self.i32 = int32_finish(self.ff, acc_bound) if self.gemm is not None else None
        # the compiled finishing (native.py) writes every member's columns straight into its output
        # pixels, in member order (a later member's bytes win, as in the scatter)
        self.rows = None
        mod = accel.kernels().native if self.i32 is not None else None
        if mod is not None:
            segments: dict[int, list] = {}
            col = 0
            for p in plans:
                segments.setdefault(p.out.gi, []).append((p.out.starts.ravel() * p.out.width, col, p.ocp))
                col += p.ocp
            self.rows = [(gi, RowsKernel(mod, segs, self.n, banks.flat[gi].shape[1])) for gi, segs in segments.items()]
        # else the scatter, and where the int32 finishing may write the results straight into the
        # output bank (one progression over the whole result, moves.py), no scatter
        self.movers = [] if self.rows is not None else \
            [(gi, Mover(r)) for gi, r in output_runs(plans, self.width).items()]
        self.direct = None
        if self.i32 is not None and len(self.movers) == 1:
            where = self.movers[0][1].whole_source(self.inp.pixels * self.n)
            self.direct = None if where is None else (self.movers[0][0], where)

    def _cached(self, m, const_key, build) -> tuple:
        """``build(m)`` (the weight matrix and offsets), kept while the shared registers' contents
        (``const_key``) stay the same when the parameters are constant, else read every run."""
        if not self.const_params:
            return build(m)
        key, w, offs = self._cache
        if key != const_key:
            w, offs = build(m)
            self._cache = (const_key, w, offs)
        return w, offs

    def _int_params(self, m) -> tuple[np.ndarray, np.ndarray]:
        """Integer route: int8 weight matrix ``[K, N]`` (or ``[B, K, N]``) and the finishing offsets
        ``[1, N]`` (or ``[B, N]``): int32 for :class:`Int32Finish`, else the raw biases."""
        one = self.const_params
        w = np.concatenate([weight_matrix(m, p, None, one) for p in self.plans], axis=2)
        bias = np.concatenate([m.banks.read_span(p.bias_span)[:1 if one else None] for p in self.plans], axis=1)
        offs = self.i32.offsets(bias) if self.i32 is not None else bias
        if one:
            w = np.ascontiguousarray(w[0])
        return w, offs

    def _run_int(self, m, const_key) -> np.ndarray | None:
        """The int8 results ``[batch, M * N]`` on the integer route, or None when they were written
        straight into the output bank (:attr:`direct`)."""
        b = m.banks.batch
        w, offs = self._cached(m, const_key, self._int_params)
        m.conv_cols = None   # the gather reuses the scratch buffers _im2col's cache points to
        cols = gather_block(m, self.inp)
        mp, n = self.inp.pixels, self.n
        acc = m.scratch.get("conv_acc", (b * mp, n), np.int32)
        if w.ndim == 2:
            self.gemm(cols, w, acc)
        else:
            for k in range(b):
                self.gemm(cols[k * mp:(k + 1) * mp], w[k], acc[k * mp:(k + 1) * mp])
        if self.i32 is None:
            out = self.ff.apply(acc.reshape(b, mp, n), np.broadcast_to(offs, (b, n))[:, None, :])
        elif self.rows is not None:
            banks = m.banks
            for gi, kernel in self.rows:
                kernel(acc, offs, self.i32, banks.flat[gi])
                banks.version[gi] += 1
            return None
        elif self.direct is not None:
            gi, where = self.direct
            self.i32.apply(acc.reshape(b, mp, n), offs[:, None, :], dest_view(m.banks.flat[gi], where))
            m.banks.version[gi] += 1
            return None
        else:
            out = m.scratch.get("conv_out", (b, mp, n), np.int8)
            self.i32.apply(acc.reshape(b, mp, n), offs[:, None, :], out)
        return out.reshape(b, -1)

    def _params(self, m) -> tuple[np.ndarray, np.ndarray | None]:
        """Weight matrix ``[K, N]`` (or ``[B, K, N]``) and float offsets ``[1, N]`` (or ``[B, N]``;
        the raw biases on the int64 route; None when folded into the matrix as its last row)."""
        ff = self.ff
        one = self.const_params
        w = np.concatenate([weight_matrix(m, p, ff.acc_scale, one) for p in self.plans], axis=2)
        bias = np.concatenate([m.banks.read_span(p.bias_span)[:1 if one else None] for p in self.plans], axis=1)
        offs = ff.offsets(bias) if ff.is_float else bias
        if self.fold:
            w, offs = np.concatenate([w, offs[:, None, :]], axis=1), None
        if self.const_params:
            w, offs = np.ascontiguousarray(w[0]), None if offs is None else offs[:1]
        return w, offs

    def run(self, m, const_key) -> None:
        flat = self._run_int(m, const_key) if self.gemm is not None else self._run_float(m, const_key)
        if flat is None:
            return
        banks = m.banks
        for gi, mover in self.movers:
            mover.run(banks.flat[gi], flat)
            banks.version[gi] += 1

    def _run_float(self, m, const_key) -> np.ndarray:
        """The int8 results ``[batch, M * N]`` on the float route (numpy's float32 products)."""
        b = m.banks.batch
        w, offs = self._cached(m, const_key, self._params)
        m.conv_cols = None   # the gather reuses the scratch buffers _im2col's cache points to
        cols = gather_cols(m, self.inp, ones=self.fold)
        mp = self.inp.pixels
        if w.ndim == 2:
            cols = [c.reshape(b * mp, -1) for c in cols]
        if self.fold:
            out = self.ff.finish_scaled(np.matmul(cols[0], w).reshape(b, mp, self.n))
        elif self.ff.is_float:
            acc = matmul_chunks(cols, self.inp, w).reshape(b, mp, self.n)
            out = self.ff.finish_scaled(add_offsets(acc, offs[:, None, :]))
        else:
            acc = matmul_chunks(cols, self.inp, w).reshape(b, mp, self.n)
            out = self.ff.apply(acc, np.broadcast_to(offs, (b, self.n))[:, None, :])
        return out.reshape(b, -1)
