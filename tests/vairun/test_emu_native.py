"""The compiled kernels of the fast executor (vairun/emu/fast/native.py, _native.c): built here and
exact on every instruction set this CPU has (AVX2, SSE2, plain C) against an int64 evaluation of
their rule, over widths, tap counts, per-image parameters, batches and every finishing edge; the
self-test refuses a kernel that is wrong or raises, and then ``auto`` runs numpy while ``native``
is an error; calls whose indices leave their buffers are refused, never executed."""

import numpy as np
import pytest

from vairun.emu.fast import accel, native
from vairun.emu.fast.finish import Int32Finish, int32_finish, fast_finish
from vairun.emu.numerics import MAX_PRODUCT
from xir.isa import ActType

MOD = native.load()
ISAS = native.isas(MOD) if MOD is not None else []


def test_the_kernels_are_built_and_pass_the_self_test_here():
    """The CI machine builds the extension at install (else the emulator silently runs numpy's
    kernels: this test says so instead)."""
    assert MOD is not None, "vairun.emu.fast._native is not built: pip install -e . with a C compiler"
    assert [name for name, _ in ISAS][-1] == "scalar"
    for name, code in ISAS:
        assert native.self_test(MOD, code) is None, name


def _finishes():
    """Int32Finish of real shift/activation combinations, including the RELU6 bound and e <= 0."""
    out = []
    for shift_bias, shift_cut, act in ((3, 7, ActType.RELU), (-2, 9, ActType.NONE), (0, 4, ActType.RELU6),
                                      (5, 0, ActType.NONE), (1, -1, ActType.RELU), (12, 16, ActType.RELU6)):
        fin = int32_finish(fast_finish(25 * MAX_PRODUCT, shift_bias, shift_cut, act), 25 * MAX_PRODUCT)
        if fin is not None:
            out.append(fin)
    return out


FINISHES = _finishes()


def _values(rng, kind, shape):
    if kind == "max":
        return np.full(shape, 127)
    if kind == "min":
        return np.full(shape, -128)
    return rng.integers(-128, 128, shape)


@pytest.mark.parametrize("isa", [code for _, code in ISAS], ids=[name for name, _ in ISAS])
@pytest.mark.parametrize("width,taps,groups,pixels", [(16, 9, 3, 29), (8, 9, 5, 11), (32, 9, 2, 7),
                                                      (12, 4, 2, 9), (3, 25, 1, 5), (24, 1, 4, 6)])
@pytest.mark.parametrize("batch,per_image", [(1, False), (3, False), (2, True)])
def test_depthwise_equals_its_rule(isa, width, taps, groups, pixels, batch, per_image):
    rng = np.random.default_rng(width * 1000 + taps * 10 + batch)
    C = groups * width
    lines_total = 3 * pixels * groups + 5
    for kind in ("random", "max", "min"):
        src = _values(rng, kind, (batch, lines_total * width)).astype(np.int8)
        lines = rng.integers(0, lines_total, (pixels, taps, groups))
        out_bytes0 = rng.permutation(pixels) * C + 2
        nparams = batch if per_image else 1
        w16 = _values(rng, "random" if kind == "random" else ("min" if kind == "max" else "max"),
                      (nparams, taps, C)).astype(np.int16)
        for fin in FINISHES:
            offsets = fin.offsets(rng.integers(-128, 128, (nparams, C)))
            want = rng.integers(-128, 128, (batch, pixels * C + 7)).astype(np.int8)
            got = want.copy()
            native.depthwise_reference(src, lines, out_bytes0, width, w16, offsets, fin, want)
            native.DepthwiseKernel(MOD, lines, out_bytes0, width, src.shape[1], got.shape[1], isa)(
                src, w16, offsets, fin, got)
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("isa", [code for _, code in ISAS], ids=[name for name, _ in ISAS])
@pytest.mark.parametrize("M,N,segments", [
    (37, 96, [(0, 16), (16, 16), (32, 64)]),
    (5, 19, [(0, 19)]),
    (8, 40, [(3, 24), (0, 9)]),
    (1, 1280, [(0, 1280)]),
    (6, 48, [(0, 48), (8, 16)]),     # the second segment writes over part of the first: it wins
])
@pytest.mark.parametrize("batch,per_image", [(1, False), (2, True)])
def test_finish_rows_equals_its_rule(isa, M, N, segments, batch, per_image):
    rng = np.random.default_rng(M * N + batch)
    acc = rng.integers(-(1 << 19), 1 << 19, (batch * M, N)).astype(np.int32)
    acc[0, :min(N, 4)] = [(1 << 19), -(1 << 19), 0, -1][:min(N, 4)]
    for fin in FINISHES:
        offsets = fin.offsets(rng.integers(-128, 128, (batch if per_image else 1, N)))
        res = native.finish_reference(acc.reshape(batch, M, N), offsets[:, None, :], fin)
        out_bytes = M * N + 11
        want = rng.integers(-128, 128, (batch, out_bytes)).astype(np.int8)
        got = want.copy()
        segs = []
        for col0, n in segments:
            # the overlapping segment reuses the first segment's pixels, shifted by its column
            base = segs[0][0] + col0 if segs and col0 + n <= segments[0][1] else rng.permutation(M) * N + 5
            base = np.minimum(base, out_bytes - n)
            for r in range(M):
                want[:, base[r]:base[r] + n] = res[:, r, col0:col0 + n]
            segs.append((base, col0, n))
        native.RowsKernel(MOD, segs, N, out_bytes, isa)(acc, offsets, fin, got)
        np.testing.assert_array_equal(got, want)


def test_indices_outside_the_buffers_are_refused():
    lines = (np.arange(18) % 10).reshape(2, 9, 1)      # lines 0 .. 9 of 16 bytes
    with pytest.raises(ValueError, match="outside its bank groups"):
        native.DepthwiseKernel(MOD, lines + 1, np.array([0, 16]), 16, 10 * 16, 64)
    with pytest.raises(ValueError, match="outside its bank groups"):
        native.DepthwiseKernel(MOD, lines - 1, np.array([0, 16]), 16, 10 * 16, 64)
    with pytest.raises(ValueError, match="outside its bank groups"):
        native.DepthwiseKernel(MOD, lines, np.array([0, 49]), 16, 10 * 16, 64)
    with pytest.raises(ValueError, match="outside their bank group"):
        native.RowsKernel(MOD, [(np.array([0, 60]), 0, 8)], 8, 64)
    with pytest.raises(ValueError, match="outside their bank group"):
        native.RowsKernel(MOD, [(np.array([0, 8]), 4, 8)], 8, 64)
    # the C side checks every call against the extents it is given
    k = native.DepthwiseKernel(MOD, lines, np.array([0, 16]), 16, 10 * 16, 64)
    fin = Int32Finish(0, 7, 0, 64, -128, 127)
    w16, offs = np.zeros((1, 9, 16), np.int16), np.zeros((1, 16), np.int32)
    with pytest.raises(ValueError, match="do not match their buffers"):
        k(np.zeros((1, 15 * 10), np.int8), w16, offs, fin, np.zeros((1, 64), np.int8))     # input too short
    with pytest.raises(ValueError, match="do not match their buffers"):
        k(np.zeros((1, 160), np.int8), w16, offs, fin, np.zeros((1, 20), np.int8))         # output too short
    with pytest.raises(ValueError, match="do not match their buffers"):
        k(np.zeros((1, 160), np.int8), w16[:, :4], offs, fin, np.zeros((1, 64), np.int8))  # weights too short
    with pytest.raises((ValueError, BufferError)):
        k(np.zeros((1, 320), np.int8)[:, ::2], w16, offs, fin, np.zeros((1, 64), np.int8))  # not contiguous
    k(np.zeros((1, 160), np.int8), w16, offs, fin, np.zeros((1, 64), np.int8))


class _Wrong:
    """The real kernels with one output byte changed (``what``: which kernel; "raise": depthwise
    raises; anything else: unchanged)."""

    def __init__(self, what):
        self.what = what

    def isas(self):
        return MOD.isas()

    def depthwise(self, *args):
        if self.what == "raise":
            raise RuntimeError("illegal instruction")
        MOD.depthwise(*args)
        if self.what == "depthwise":
            out = args[8]
            out.reshape(-1)[args[10][0] + 1] ^= 1

    def finish_rows(self, *args):
        MOD.finish_rows(*args)
        if self.what == "rows":
            out = args[3]
            out.reshape(-1)[args[5][0, 0]] ^= 4


@pytest.mark.parametrize("what,message", [("depthwise", "depthwise kernel differs"),
                                          ("rows", "finishing kernel differs"),
                                          ("raise", "RuntimeError: illegal instruction")])
def test_the_self_test_refuses_a_wrong_kernel(monkeypatch, what, message):
    bad = _Wrong(what)
    assert message in native.self_test(bad)
    monkeypatch.setattr(native, "load", lambda: bad)
    k = accel._load(True, frozenset())
    assert k.native is None                      # auto: numpy's depthwise and finishing
    assert k.native_note.startswith("self-test failed: ") and message in k.native_note
    with pytest.raises(accel.KernelsUnavailable, match="names native but the compiled kernels are not exact"):
        accel._load(False, frozenset({"native"}))


def test_a_missing_build_is_numpy_in_auto_and_an_error_when_named(monkeypatch):
    monkeypatch.setattr(native, "load", lambda: None)
    k = accel._load(True, frozenset())
    assert k.native is None and k.native_note == "not built: install the package with a C compiler present"
    monkeypatch.setattr(accel, "_loaded", {(True, frozenset()): k})
    monkeypatch.setenv(accel.ENV, "auto")
    assert accel.describe().endswith(
        "native kernels: not in use (not built: install the package with a C compiler present)")
    with pytest.raises(accel.KernelsUnavailable, match="compiled kernels are not built"):
        accel._load(False, frozenset({"native"}))


def test_plain_c_only_is_left_to_numpy_unless_named(monkeypatch):
    class ScalarOnly(_Wrong):
        def isas(self):
            return [("scalar", 1)]
    monkeypatch.setattr(native, "load", lambda: ScalarOnly("none"))
    k = accel._load(True, frozenset())
    assert k.native is None and k.native_note == "no vector instructions for this CPU"
    k = accel._load(False, frozenset({"native"}))
    assert k.native is not None and k.native_isa == "scalar"
