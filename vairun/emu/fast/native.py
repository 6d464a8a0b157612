"""The compiled kernels of the fast executor (``_native.c``), loaded and self-tested (no contract rule:
a speed device; the kernels compute the same integers as the numpy route, so results do not depend
on them).

Rules:

* The extension is built when the package is installed (setup.py) and is optional: where it is
  missing (no C compiler at install time, or a source tree nobody built) :func:`load` returns None
  and the numpy kernels run (accel.py decides, under ``VAIRUN_EMU_KERNELS``).
* Before its first use, :func:`self_test` compares the kernels on the CPU's best instruction set with
  the numpy route's own functions for the same work (finish.py :func:`exact_tap_sum` and
  :class:`Int32Finish`) on operands at the int8 extremes and random ones, in widths of 16, 8 and an odd width, with shared and per-image
  parameters; a kernel that differs is refused.
* :class:`DepthwiseKernel` holds what one DPTWISE plan passes on every call (its line indices and
  output offsets, checked against the bank sizes once); the C code checks each call's buffers
  against those maxima, so no call reads or writes outside the arrays it is given.
"""

from __future__ import annotations

import numpy as np

from ..numerics import MAX_PRODUCT
from .finish import Int32Finish, exact_tap_sum

#: instruction-set codes of _native.c; 0 asks for the best the CPU has
BEST = 0


def load():
    """The extension module, or None when it is not built."""
    try:
        from . import _native
    except ImportError:
        return None
    return _native


def isas(mod) -> list[tuple[str, int]]:
    """``[(name, code)]`` of the instruction sets the kernels have on this CPU, best first."""
    return [(str(name), int(code)) for name, code in mod.isas()]


class DepthwiseKernel:
    """One DPTWISE block's geometry for the compiled kernel: the input line of every (pixel, tap,
    group) ``[P, T, G]`` and the first output byte of every pixel ``[P]``, with ``G`` lines of
    ``width`` bytes per pixel; ``in_bytes``/``out_bytes``: bytes per image of the input and output
    bank groups (every index is checked against them here)."""

    __slots__ = ("mod", "isa", "idx", "idx_max", "obase", "obase_max", "P", "T", "G", "W")

    def __init__(self, mod, lines: np.ndarray, out_bytes0: np.ndarray, width: int, in_bytes: int,
                 out_bytes: int, isa: int = BEST):
        lines = np.asarray(lines)
        P, T, G = lines.shape
        out_bytes0 = np.asarray(out_bytes0, dtype=np.int64).reshape(P)
        if P and (lines.min() < 0 or (lines.max() + 1) * width > in_bytes or out_bytes0.min() < 0
                  or out_bytes0.max() + G * width > out_bytes):
            raise ValueError("depthwise block outside its bank groups")
        self.mod, self.isa = mod, isa
        self.idx = np.ascontiguousarray(lines, dtype=np.int32)
        self.obase = np.ascontiguousarray(out_bytes0)
        self.idx_max = int(lines.max()) if P else 0
        self.obase_max = int(out_bytes0.max()) if P else 0
        self.P, self.T, self.G, self.W = P, T, G, width

    def __call__(self, src: np.ndarray, w16: np.ndarray, offsets: np.ndarray, finish, dst: np.ndarray) -> None:
        """Fill ``dst`` (int8 ``[B, out bytes]``, C-contiguous) from ``src`` (int8 ``[B, in bytes]``)
        with int16 weights ``[1 or B, T, C]`` and int32 offsets ``[1 or B, C]`` of ``finish``
        (:class:`vairun.emu.fast.finish.Int32Finish`)."""
        b = src.shape[0]
        C = self.G * self.W
        self.mod.depthwise(src, src.shape[1], self.idx, self.idx_max,
                           w16, 0 if w16.shape[0] == 1 else self.T * C,
                           offsets, 0 if offsets.shape[0] == 1 else C,
                           dst, dst.shape[1], self.obase, self.obase_max,
                           b, self.P, self.T, self.G, self.W, finish.pre, finish.post, finish.lo, finish.hi,
                           self.isa)


class RowsKernel:
    """Finishing of a CONV group's int32 results ``[M, N]`` per image into one bank group, by segments
    in order: segment ``(out_bytes0, col0, n)`` takes columns ``col0 .. col0+n-1`` of row ``r`` to the
    output bytes starting at ``out_bytes0[r]`` (one member CONV's results; every byte is checked
    against ``out_bytes``, the bytes per image of the output bank group)."""

    __slots__ = ("mod", "isa", "obase", "end_max", "cols", "ns", "M", "N")

    def __init__(self, mod, segments, N: int, out_bytes: int, isa: int = BEST):
        obase = np.stack([np.asarray(o, dtype=np.int64).ravel() for o, _, _ in segments])
        cols = np.array([c for _, c, _ in segments], dtype=np.int32)
        ns = np.array([n for _, _, n in segments], dtype=np.int32)
        ends = obase + ns[:, None]
        if (cols < 0).any() or (ns < 1).any() or (cols + ns > N).any() or \
                (obase.size and (obase.min() < 0 or ends.max() > out_bytes)):
            raise ValueError("CONV results outside their bank group")
        self.mod, self.isa = mod, isa
        self.obase, self.cols, self.ns = np.ascontiguousarray(obase), cols, ns
        self.end_max = int(ends.max()) if obase.size else 0
        self.M, self.N = obase.shape[1], N

    def __call__(self, acc: np.ndarray, offsets: np.ndarray, finish, dst: np.ndarray) -> None:
        """Fill ``dst`` (int8 ``[B, out bytes]``, C-contiguous) from ``acc`` (int32 ``[B * M, N]``,
        C-contiguous) with int32 offsets ``[1 or B, N]`` of ``finish`` (:class:`Int32Finish`)."""
        self.mod.finish_rows(acc, offsets, 0 if offsets.shape[0] == 1 else self.N, dst, dst.shape[1],
                             self.obase, self.end_max, self.cols, self.ns, dst.shape[0], self.M, self.N,
                             self.cols.size, finish.pre, finish.post, finish.lo, finish.hi, self.isa)


def finish_reference(acc, offsets, finish) -> np.ndarray:
    """What the numpy route makes of int32 accumulators ``acc`` ``[B, M, N]`` with ``offsets`` broadcast
    against them: :meth:`Int32Finish.apply` (tests/vairun/test_emu_numerics.py proves it equal to the
    reference finishing); int8 results."""
    out = np.empty(acc.shape, np.int8)
    return finish.apply(np.array(acc, dtype=np.int32), np.asarray(offsets, dtype=np.int32), out)


def depthwise_reference(src, lines, out_bytes0, width, w16, offsets, finish, dst) -> None:
    """What the numpy route makes of the block (for the self-test and the tests): the tap sums of
    finish.py :func:`exact_tap_sum` over the gathered lines, then :func:`finish_reference`."""
    P, T, G = lines.shape
    b = src.shape[0]
    x = src.reshape(b, -1, width)[:, lines].reshape(b, P, T, G * width).astype(np.float32)
    acc = exact_tap_sum(x, np.broadcast_to(w16, (b,) + w16.shape[1:]))
    v = finish_reference(acc, np.broadcast_to(offsets, (b,) + offsets.shape[1:])[:, None, :], finish)
    for p in range(P):
        o = int(out_bytes0[p])
        dst[:, o:o + G * width] = v[:, p]


def _cases(rng):
    """Self-test cases: (width, taps, groups, pixels, batch, per-image params, operand kind)."""
    for width in (16, 8, 12):
        for kind in ("max", "min", "mixed", "random"):
            yield width, 9, 3, 7, 2, kind == "random", kind
    yield 32, 25, 2, 5, 1, False, "random"
    yield 16, 1, 1, 1, 1, False, "min"


def _operands(rng, kind, shape, lo, hi):
    if kind == "max":
        return np.full(shape, hi)
    if kind == "min":
        return np.full(shape, lo)
    if kind == "mixed":
        return np.where(rng.random(shape) < 0.5, lo, hi)
    return rng.integers(lo, hi + 1, shape)


#: finishings of the self-test: (pre, post, bias shift, half, lo, hi) of Int32Finish
FINISHES = ((0, 7, 0, 64, -128, 127), (1, 0, 0, 0, 0, 96), (0, 12, 0, 2048, 0, 127))


def self_test(mod, isa: int = BEST) -> str | None:
    """A description of the first case where a kernel differs from its rule (:func:`depthwise_reference`,
    :func:`finish_reference`), or None when both agree on every case."""
    rng = np.random.default_rng(1)
    for M, N, col0, n, b in ((7, 40, 3, 35, 2), (1, 16, 0, 16, 1), (5, 24, 16, 8, 1), (3, 9, 2, 5, 3)):
        for kind in ("max", "min", "mixed", "random"):
            acc = _operands(rng, kind, (b * M, N), -(1 << 20), 1 << 20).astype(np.int32)
            offsets = rng.integers(-(1 << 20), 1 << 20, (b if kind == "random" else 1, N)).astype(np.int32)
            out_bytes0 = rng.permutation(M) * (n + 3) + 1
            for args in FINISHES:
                fin = Int32Finish(*args)
                want = np.zeros((b, (n + 3) * M + 1), np.int8)
                got = want.copy()
                res = finish_reference(acc.reshape(b, M, N), offsets[:, None, :], fin)
                for r in range(M):
                    want[:, out_bytes0[r]:out_bytes0[r] + n] = res[:, r, col0:col0 + n]
                try:
                    RowsKernel(mod, [(out_bytes0, col0, n)], N, want.shape[1], isa)(acc, offsets, fin, got)
                except Exception as exc:  # noqa: BLE001 - any failure of the kernel means: do not use it
                    return f"finishing kernel: {type(exc).__name__}: {exc}"
                if not np.array_equal(got, want):
                    return f"finishing kernel differs from the exact rule ({M}x{N}, {kind} operands)"
    for width, T, G, P, b, per_image, kind in _cases(rng):
        lines_total = 40
        src = _operands(rng, kind, (b, lines_total * width), -128, 127).astype(np.int8)
        lines = rng.integers(0, lines_total, (P, T, G))
        # pixels G lines apart in a bank group of 3 * P * G lines, in scrambled order
        out_bytes0 = rng.permutation(P) * G * width * 2 + width
        out_bytes = (2 * P + 1) * G * width
        C = G * width
        nw = b if per_image else 1
        w16 = _operands(rng, kind if kind != "mixed" else "random", (nw, T, C), -128, 127).astype(np.int16)
        bias_bound = T * MAX_PRODUCT
        offsets = rng.integers(-bias_bound, bias_bound, (nw, C)).astype(np.int32)
        for fin in (Int32Finish(*args) for args in FINISHES):
            want = np.zeros((b, out_bytes), np.int8)
            got = want.copy()
            depthwise_reference(src, lines, out_bytes0, width, w16, offsets, fin, want)
            try:
                DepthwiseKernel(mod, lines, out_bytes0, width, src.shape[1], out_bytes, isa)(
                    src, w16, offsets, fin, got)
            except Exception as exc:  # noqa: BLE001 - any failure of the kernel means: do not use it
                return f"depthwise kernel: {type(exc).__name__}: {exc}"
            if not np.array_equal(got, want):
                return f"depthwise kernel differs from the exact rule (width {width}, {kind} operands)"
    return None
