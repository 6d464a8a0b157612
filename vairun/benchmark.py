"""Steady-state wall time of the emulator (what ``vairun bench`` reports).

Rule: a measurement is ``warmup`` untimed calls followed by ``repeat`` timed ones; only the timed
calls count, and the result says how many of each ran. The emulator's first run of a stream builds
its execution plan and the second fills its caches, so the default warm-up is two runs. Per-image
figures divide a call's time by the batch; the minimum is the least disturbed run, the median the
typical one (on a machine shared with other work, compare minima).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

#: untimed runs before the timed ones (plan building, cache filling)
DEFAULT_WARMUP = 2
#: timed runs
DEFAULT_REPEAT = 5


@dataclass(frozen=True)
class SteadyState:
    """``repeat`` timed calls of ``images`` images each, after ``warmup`` untimed calls."""

    warmup: int
    times: tuple[float, ...]    # seconds of each timed call, in order
    images: int                 # images per call

    @property
    def repeat(self) -> int:
        return len(self.times)

    @property
    def seconds_min(self) -> float:
        return min(self.times)

    @property
    def seconds_median(self) -> float:
        return statistics.median(self.times)

    @property
    def ms_per_image_min(self) -> float:
        return self.seconds_min / self.images * 1e3

    @property
    def ms_per_image_median(self) -> float:
        return self.seconds_median / self.images * 1e3

    @property
    def images_per_s(self) -> float:
        """At the median call."""
        return self.images / self.seconds_median

    def to_dict(self) -> dict:
        return {"warmup": self.warmup, "repeat": self.repeat, "images_per_call": self.images,
                "times_s": list(self.times), "seconds_min": self.seconds_min,
                "seconds_median": self.seconds_median, "ms_per_image_min": self.ms_per_image_min,
                "ms_per_image_median": self.ms_per_image_median, "images_per_s": self.images_per_s}


def steady_state(fn: Callable[[], object], images: int, warmup: int = DEFAULT_WARMUP,
                 repeat: int = DEFAULT_REPEAT) -> SteadyState:
    """Call ``fn`` ``warmup`` times untimed, then ``repeat`` times timed."""
    if warmup < 0 or repeat < 1 or images < 1:
        raise ValueError(f"need warmup >= 0, repeat >= 1 and images >= 1, got {warmup}, {repeat}, {images}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return SteadyState(warmup, tuple(times), images)


def random_feeds(runner, batch: int, seed: int = 0) -> list[np.ndarray]:
    """Standard-normal float32 inputs of ``batch`` samples for every input of ``runner``."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal([batch] + t.dims[1:]).astype(np.float32) for t in runner.get_input_tensors()]
