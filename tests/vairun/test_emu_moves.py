"""Fused byte moves (vairun.emu.fast.moves) have the effect of executing their runs one after another:
overlaps resolved in favour of the later run, constants, slices and item gathers, a source shared by
the batch broadcast to every image. And the DDR register tokens that key the cached parameters."""

import numpy as np
import pytest

from vairun.emu.fast import moves
from vairun.emu.ddr import Ddr
from vairun.emu.fast.moves import Mover, Runs, normalize


def _sequential(runs: Runs, dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    out = dst.copy()
    for d, s, n, v in zip(runs.dst, runs.src, runs.length, runs.value):
        out[:, d:d + n] = v if s < 0 else src[:, s:s + n]
    return out


def _random_runs(rng, count, dst_size, src_size, max_len, const_share=0.2) -> Runs:
    length = rng.integers(1, max_len + 1, count)
    dst = rng.integers(0, dst_size - max_len, count)
    src = rng.integers(0, src_size - max_len, count)
    src = np.where(rng.random(count) < const_share, -1, src)
    value = np.where(src < 0, rng.integers(-128, 128, count), 0)
    return Runs.of(dst, src, length, value)


@pytest.mark.parametrize("count", [1, 5, moves.MAX_SLICES + 1, 300])
@pytest.mark.parametrize("shared", [False, True])
def test_random_overlapping_runs_equal_sequential_execution(count, shared):
    rng = np.random.default_rng(count * 2 + shared)
    batch = 3
    for trial in range(20):
        runs = _random_runs(rng, count, 700, 500, 40)
        src = rng.integers(-128, 128, size=(1 if shared else batch, 500)).astype(np.int8)
        dst = rng.integers(-128, 128, size=(batch, 700)).astype(np.int8)
        want = _sequential(runs, dst, np.broadcast_to(src, (batch, 500)))
        got = dst.copy()
        Mover(runs).run(got, src)
        np.testing.assert_array_equal(got, want)


def test_item_moves_use_the_largest_common_run_size():
    # 40 runs of 16 or 48 bytes that do not touch: items of 16 bytes, no slices
    rng = np.random.default_rng(3)
    lengths = rng.choice([16, 48], 40)
    dst = np.arange(40) * 64 + 5
    src = np.arange(40)[::-1] * 50 + 3
    runs = Runs.of(dst, src, lengths)
    mover = Mover(runs)
    assert mover.slices is None and mover.item == 16 and mover.dst_idx.size == int(lengths.sum()) // 16
    srcbuf = rng.integers(-128, 128, size=(2, 2100)).astype(np.int8)
    dstbuf = np.zeros((2, 2600), np.int8)
    want = _sequential(runs, dstbuf, srcbuf)
    mover.run(dstbuf, srcbuf)
    np.testing.assert_array_equal(dstbuf, want)


def test_normalize_merges_neighbours_and_lets_the_later_run_win():
    runs = Runs.of([0, 4, 8, 2], [100, 104, -1, 50], [4, 4, 4, 3], [0, 0, 7, 0])
    norm = normalize(runs)
    # bytes 2..4 come from the last run (src 50..52); 0..1 and 5..7 from the first two; 8..11 constant
    assert norm.dst.tolist() == [0, 2, 5, 8]
    assert norm.src.tolist() == [100, 50, 105, -1]
    assert norm.length.tolist() == [2, 3, 3, 4]
    assert norm.value.tolist()[3] == 7
    # contiguous runs merge into one
    merged = normalize(Runs.of([0, 10, 20], [5, 15, 25], [10, 10, 10]))
    assert merged.dst.tolist() == [0] and merged.length.tolist() == [30]


def test_shared_register_tokens_follow_contents():
    ddr = Ddr(batch=2)
    blob = bytes(range(100)) * 50
    ddr.set(0, np.frombuffer(blob, dtype=np.uint8), shared=True)
    token, buf = ddr.token[0], ddr.regs[0]
    ddr.set(0, np.frombuffer(blob, dtype=np.uint8), shared=True)   # the same immutable bytes: kept
    assert ddr.token[0] == token and ddr.regs[0] is buf
    ddr.set(0, np.frombuffer(blob, dtype=np.uint8).copy(), shared=True)  # equal contents: kept
    assert ddr.token[0] == token and ddr.regs[0] is buf
    changed = np.frombuffer(blob, dtype=np.uint8).copy()
    changed[-1] ^= 1
    ddr.set(0, changed, shared=True)
    assert ddr.token[0] != token and int(ddr.regs[0][0, -1]) == int(changed[-1].view(np.int8))
    token = ddr.token[0]
    ddr.set(0, changed[:-1], shared=True)                           # another size
    assert ddr.token[0] != token and ddr.regs[0].shape == (1, changed.size - 1)
    key = ddr.const_key()
    ddr.set(1, np.zeros(10, np.int8), shared=False)                 # per-image registers do not count
    assert ddr.const_key() == key


def test_regular_runs_become_strided_copies():
    # rows of 3-byte pixels into 16-byte lines, 8 rows in 8 banks of 2048 lines (one nested copy),
    # a source pixel copied to 30 lines (source step 0), and a descending source (not a
    # progression: copied run by run)
    rows = [Runs.of(r * 2048 + np.arange(100) * 16, 5 + r * 300 + np.arange(100) * 3, 3) for r in range(8)]
    runs = Runs.concat(rows + [Runs.of(17000 + np.arange(30) * 8, 2500, 4),
                               Runs.of(18000 + np.arange(3) * 4, 2800 - np.arange(3) * 10, 2)])
    mover = Mover(runs)
    assert mover.slices is not None
    assert [op[3] for op in mover.slices] == [(8, 100), (30,), (), (), ()]
    rng = np.random.default_rng(8)
    for batch, src_rows in ((1, 1), (3, 1), (3, 3)):
        src = rng.integers(-128, 128, size=(src_rows, 2900)).astype(np.int8)
        dst = rng.integers(-128, 128, size=(batch, 18100)).astype(np.int8)
        want = _sequential(runs, dst, np.broadcast_to(src, (batch, 2900)))
        mover.run(dst, src)
        np.testing.assert_array_equal(dst, want)


def test_random_nested_progressions_equal_sequential_execution():
    rng = np.random.default_rng(12)
    checked = 0
    while checked < 300:
        parts, base = [], 0
        for _ in range(rng.integers(1, 6)):
            count, length = int(rng.integers(1, 40)), int(rng.integers(1, 6))
            d_step, s_step = length + int(rng.integers(0, 10)), int(rng.integers(0, 8))
            outer = int(rng.integers(1, 4))
            o_step, o_src = count * d_step + int(rng.integers(0, 30)), int(rng.integers(0, 200))
            for o in range(outer):
                parts.append(Runs.of(base + o * o_step + np.arange(count) * d_step,
                                     10 + o * o_src + np.arange(count) * s_step, length))
            base += outer * o_step + 50
        runs = Runs.concat(parts)
        if runs.dst.max() + 10 > 20000 or runs.src.max() + 10 > 3000:
            continue
        src = rng.integers(-128, 128, (2, 3000)).astype(np.int8)
        dst = rng.integers(-128, 128, (2, 20000)).astype(np.int8)
        want = _sequential(runs, dst, src)
        Mover(runs).run(dst, src)
        np.testing.assert_array_equal(dst, want)
        checked += 1


@pytest.mark.parametrize("rows,pixels,nbytes,line_step,row_step", [(8, 14, 48, 3, 4096), (1, 5, 16, 1, 0),
                                                                    (5, 7, 32, 2, 1000)])
def test_whole_source_view_receives_what_the_move_writes(rows, pixels, nbytes, line_step, row_step):
    """A block result ``[rows * pixels, nbytes]`` scattered to pixels at regular lines is one
    progression: writing the result in C order into the view equals running the move."""
    width = 16
    starts = np.arange(rows)[:, None] * row_step + np.arange(pixels)[None, :] * line_step
    dst_off = (starts * width).ravel()
    size = rows * pixels * nbytes
    runs = Runs.of(dst_off, np.arange(rows * pixels) * nbytes, nbytes)
    mover = Mover(runs)
    where = mover.whole_source(size)
    assert where is not None
    rng = np.random.default_rng(rows)
    src = rng.integers(-128, 128, size=(2, size)).astype(np.int8)
    dst = rng.integers(-128, 128, size=(2, int(dst_off.max()) + nbytes + 64)).astype(np.int8)
    want = dst.copy()
    mover.run(want, src)
    moves.dest_view(dst, where)[...] = src.reshape(moves.dest_view(dst, where).shape)
    np.testing.assert_array_equal(dst, want)


def test_whole_source_refuses_what_is_not_one_c_ordered_progression():
    n = 16
    # pixels written in reverse order: the source is not C-ordered along the destination
    assert Mover(Runs.of(np.arange(6)[::-1] * 32, np.arange(6) * n, n)).whole_source(6 * n) is None
    # a constant run as well
    runs = Runs.concat([Runs.of(np.arange(6) * 32, np.arange(6) * n, n), Runs.of([400], [-1], [4], [7])])
    assert Mover(runs).whole_source(6 * n) is None
    # not the whole source
    assert Mover(Runs.of(np.arange(6) * 32, np.arange(6) * n, n)).whole_source(7 * n) is None
    # irregular destinations (no single progression)
    assert Mover(Runs.of(np.array([0, 32, 96, 100, 300, 333]) * 16, np.arange(6) * n, n)).whole_source(6 * n) is None
