"""Whether a fused run in one thread lets the BLAS use its threads, chosen by measuring (no contract
rule: a speed device; the products are exact either way, finish.py, so the results do not depend on
it).

Rule: a program that runs the batch in one thread (a batch of one image, or a program with a step
that can fault) has two ways to run its matrix products: with the BLAS's own thread count, or capped
at one thread. Which is faster depends on the machine's state, not on the stream: the products of a
CONV block are small (tens of MFLOP), and the BLAS splits every one over its threads and waits for
all of them, so each of the hundreds of products per image pays a wake-up and a barrier. On an idle
machine the second core is there at once and the split pays; on a machine whose cores are busy with
other work, a waiting BLAS thread is not scheduled for a time slice and the barrier costs far more
than the product (measured on 2 busy cores: ResNet-18, batch 1, about 9x slower with two BLAS threads
than with one; scripts/bench_emulator.py). So each program measures both: the first runs try each
way once, later runs take the way with the smaller of its recent times, and every so often the other
way is tried again (at doubling intervals while it keeps losing, so that a loaded machine pays
little for the probes, and back to short intervals when the choice flips).
"""

from __future__ import annotations

#: ways: the BLAS's own thread count, or capped at one thread
DEFAULT, ONE = 0, 1
#: recent times kept per way (their minimum is compared)
KEEP = 3
#: runs between probes of the losing way: starts here, doubles while it keeps losing, up to MAX_GAP
FIRST_GAP, MAX_GAP = 4, 64


class BlasChoice:
    """The measured choice of one program (see the module docstring)."""

    __slots__ = ("times", "best", "gap", "countdown")

    def __init__(self):
        self.times: dict[int, list[float]] = {DEFAULT: [], ONE: []}
        self.best = DEFAULT
        self.gap = FIRST_GAP
        self.countdown = FIRST_GAP

    def next(self) -> int:
        """The way the next run takes."""
        for way in (DEFAULT, ONE):
            if not self.times[way]:
                return way
        self.countdown -= 1
        if self.countdown <= 0:
            return ONE - self.best
        return self.best

    def record(self, way: int, seconds: float) -> None:
        """The run that took ``way`` lasted ``seconds``."""
        recent = self.times[way]
        recent.append(seconds)
        del recent[:-KEEP]
        if not self.times[ONE - way]:
            return
        best = min((DEFAULT, ONE), key=lambda w: min(self.times[w]))
        if way != self.best:   # a probe (or the first measurement of the second way)
            self.gap = FIRST_GAP if best != self.best else min(2 * self.gap, MAX_GAP)
            self.countdown = self.gap
        self.best = best
