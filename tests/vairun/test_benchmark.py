"""vairun.benchmark: warm-up calls run but are not timed; the result says how many of each ran."""
import pytest

from vairun import benchmark
from vairun.benchmark import steady_state


def test_warmup_calls_run_untimed_and_only_timed_calls_count(monkeypatch):
    calls = []
    # a fake clock: each perf_counter call advances by the duration of the call being timed
    clock = iter([0.0, 1.0, 10.0, 13.0, 20.0, 22.0])   # timed calls take 1, 3 and 2 s
    monkeypatch.setattr(benchmark.time, "perf_counter", lambda: next(clock))
    s = steady_state(lambda: calls.append(len(calls)), images=4, warmup=2, repeat=3)
    assert calls == [0, 1, 2, 3, 4]                   # 2 warm-up + 3 timed calls
    assert (s.warmup, s.repeat, s.times) == (2, 3, (1.0, 3.0, 2.0))
    assert (s.seconds_min, s.seconds_median) == (1.0, 2.0)
    assert (s.ms_per_image_min, s.ms_per_image_median, s.images_per_s) == (250.0, 500.0, 2.0)
    d = s.to_dict()
    assert (d["warmup"], d["repeat"], d["times_s"]) == (2, 3, [1.0, 3.0, 2.0])


@pytest.mark.parametrize("warmup, repeat, images", [(-1, 1, 1), (0, 0, 1), (0, 1, 0)])
def test_impossible_counts_are_refused(warmup, repeat, images):
    with pytest.raises(ValueError, match="need warmup"):
        steady_state(lambda: None, images, warmup, repeat)
