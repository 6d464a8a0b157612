"""scripts/bench_timing_model.py and its published figures (scripts/timing_published.py): the
fit/held-out split follows its rule, the fit sees only the fit half, and the script runs end to end.
Timings themselves are not asserted (they are the benchmark's output)."""
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import bench_timing_model as bench  # noqa: E402
from timing_published import ENTRIES, SCORED_BOARDS, split  # noqa: E402


def test_split_alternates_over_published_operations():
    halves = split()
    assert set(halves) == {e.key for e in ENTRIES} and len(ENTRIES) >= 8
    ranked = [e.key for e in sorted(ENTRIES, key=lambda e: e.gops)]
    assert [halves[k] for k in ranked] == ["fit" if i % 2 == 0 else "held-out" for i in range(len(ranked))]
    fit = [k for k in ranked if halves[k] == "fit"]
    held = [k for k in ranked if halves[k] == "held-out"]
    assert abs(len(fit) - len(held)) <= 1 and len(held) >= 4
    # both halves span small and large models
    assert ranked[0] in fit and ranked[1] in held and ranked[-1] in fit and ranked[-2] in held


def test_every_entry_has_a_figure_on_every_scored_board():
    assert len(SCORED_BOARDS) >= 2
    for e in ENTRIES:
        assert all(e.fps.get(b, 0) > 0 for b in SCORED_BOARDS), e.key


def test_fit_looks_only_at_the_fit_half(monkeypatch):
    seen = set()

    def fake_estimates(models, targets, boards):
        seen.update(models)
        return {(k, b): (100.0, 10.0) for k in models for b in boards}

    monkeypatch.setattr(bench, "estimates", fake_estimates)
    from xir.target import load_target
    targets = {b: load_target(f"DPUCZDX8G/{b}") for b in bench.BOARDS}
    halves = split()
    best = bench.fit({e.key: None for e in ENTRIES}, targets, halves, console=type("C", (), {"log": print})())
    assert seen == {k for k, h in halves.items() if h == "fit"}
    assert best == bench.params_of(targets["KV260"])   # constant estimates: nothing to improve


@pytest.mark.parametrize("params", [{"ddr_bytes_per_cycle": 16.0, "load": 1, "save": 2, "conv": 3, "misc": 4,
                                     "ddr_latency": 5, "job": 6}])
def test_parameters_round_trip_through_a_target(params):
    from xir.target import load_target
    t = load_target("DPUCZDX8G/ZCU104")
    t2 = bench.with_params(t, params)
    assert bench.params_of(t2) == params and t2.fingerprint == t.fingerprint and t2.cores == t.cores


def test_script_runs_on_the_smallest_model(tmp_path):
    md = tmp_path / "table.md"
    res = CliRunner().invoke(bench.main, ["--workdir", str(tmp_path), "--models", "mobilenet_v1_0.25_128",
                                          "--markdown", str(md)])
    assert res.exit_code == 0, res.output
    for board in ("KV260", "ZCU104", "ZCU102"):
        assert board in res.output
    assert "geometric-mean absolute error" in res.output and "not scored" in res.output
    rows = [line for line in md.read_text().splitlines() if line.startswith("| mobilenet_v1_0.25_128 |")]
    assert [r.split(" | ")[3] for r in rows] == ["KV260", "ZCU104", "ZCU102"]
    assert "- fit: 2 figures" in md.read_text()
    assert (tmp_path / "mobilenet_v1_0.25_128" / "out" / "mobilenet_v1.xmodel").exists()
