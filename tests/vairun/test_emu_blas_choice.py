"""The measured BLAS thread choice of a fused run in one thread (vairun/emu/fast/blas_choice.py):
both ways are tried, the faster is kept, the loser is probed again at doubling intervals, a flip is
followed, and the results do not depend on the way taken."""
import numpy as np

from vairun.emu import Machine
from vairun.emu.fast import blas_choice
from vairun.emu.fast.bench import conv_stream
from vairun.emu.fast.blas_choice import DEFAULT, ONE, BlasChoice
from xir.target import load_target


def _drive(choice: BlasChoice, seconds: dict[int, float], runs: int) -> list[int]:
    ways = []
    for _ in range(runs):
        way = choice.next()
        choice.record(way, seconds[way])
        ways.append(way)
    return ways


def test_tries_both_then_keeps_the_faster_and_probes_at_doubling_gaps():
    choice = BlasChoice()
    ways = _drive(choice, {DEFAULT: 1.0, ONE: 0.1}, 40)
    assert ways[:2] == [DEFAULT, ONE]
    probes = [i for i, w in enumerate(ways) if w == DEFAULT][1:]
    gaps = np.diff([1] + probes).tolist()
    assert gaps[:3] == [blas_choice.FIRST_GAP, 2 * blas_choice.FIRST_GAP, 4 * blas_choice.FIRST_GAP]
    assert choice.best == ONE


def test_follows_a_change_of_the_machine_state():
    choice = BlasChoice()
    _drive(choice, {DEFAULT: 1.0, ONE: 0.1}, 20)
    assert choice.best == ONE
    # the machine becomes idle: the BLAS's own threads win from the next probe on
    ways = _drive(choice, {DEFAULT: 0.05, ONE: 0.1}, blas_choice.MAX_GAP + blas_choice.KEEP + 2)
    assert choice.best == DEFAULT
    assert ways[-1] == DEFAULT


def test_both_ways_give_the_same_banks():
    target = load_target("DPUCZDX8G/KV260")
    stream, _ = conv_stream(target, 6)
    m = Machine(target, batch=1, threads=2)
    rng = np.random.default_rng(1)
    for g in target.banks:
        for b in g.ids:
            view = m.bank(b)
            view[...] = rng.integers(-128, 128, size=view.shape, dtype=np.int8)
    start = {b: m.bank(b).copy() for g in target.banks for b in g.ids}
    results = []
    for _ in range(4):
        for b, data in start.items():
            m.bank(b)[...] = data
        m.run(stream)
        results.append({b: m.bank(b).copy() for b in start})
    program = m.programs[-1][1].program
    assert program is not None and all(program.blas_choice.times[w] for w in (DEFAULT, ONE))
    for res in results[1:]:
        assert all(np.array_equal(res[b], results[0][b]) for b in start)
