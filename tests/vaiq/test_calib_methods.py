"""Calibration methods mse and percentile, calib_statistic_method, and their config keys."""
import json
from collections import Counter

import numpy as np
import pytest
import torch

from vaiq import ConfigError
from vaiq.calib import MSE_ABOVE, Observer, combine_positions, fake_quant, overflow_safe_pos, param_pos, percentile_pos
from vaiq.config import load_config

from flow import assert_bitexact_with_deploy, quantize_roundtrip


def sq_err(x: torch.Tensor, p: int, mode: str) -> float:
    return float(((fake_quant(x.double(), p, 8, mode) - x.double()) ** 2).sum())


@pytest.mark.parametrize("seed", range(4))
def test_mse_observer_picks_the_smallest_total_error(seed):
    """The position with the smallest squared error summed over all batches (brute force over every
    position, float64), not a per-batch vote."""
    gen = torch.Generator().manual_seed(seed)
    batches = [torch.randn(200, generator=gen) * (1.0 + 3.0 * float(torch.rand(1, generator=gen)))
               for _ in range(5)]
    batches[2][0] = 40.0                      # one outlier batch: its pos0 is far below the others'
    obs = Observer(8, "mse")
    for b in batches:
        obs.update(b)
    evaluated = set.intersection(*[set(range(overflow_safe_pos(float(b.min()), float(b.max()), 8) - 3,
                                             min(overflow_safe_pos(float(b.min()), float(b.max()), 8) + 8, 12) + 1))
                                   for b in batches])
    totals = {p: sum(sq_err(b, p, "DPU_ROUND") for b in batches) for p in evaluated}
    best = min(totals.values())
    got = obs.result()
    assert got in evaluated
    assert totals[got] <= best * (1 + 1e-5)   # float32 sums in the observer; ties within that keep either


@pytest.mark.parametrize("seed", range(3))
def test_mse_weights_pick_the_best_of_the_wider_window(seed):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(64, 16, generator=gen) * 0.05
    w[0, 0] = 2.0 * (seed + 1)                # an outlier weight
    pos0 = overflow_safe_pos(float(w.min()), float(w.max()), 8)
    errs = {p: sq_err(w, p, "STD_ROUND") for p in range(pos0, min(pos0 + MSE_ABOVE, 12) + 1)}
    got = param_pos(w, 8, "mse")
    assert errs[got] <= min(errs.values()) * (1 + 1e-5)
    assert errs[got] <= errs[param_pos(w, 8, "diffs")]       # diffs searches a subset of the window


def test_percentile_position():
    x = torch.arange(1, 10001, dtype=torch.float32) / 1000.0     # |x| percentile 99 is 9.9
    assert percentile_pos(x, 8, 99.0) == overflow_safe_pos(-9.9, 9.9, 8)
    assert percentile_pos(x, 8, 100.0) == overflow_safe_pos(-10.0, 10.0, 8)
    assert percentile_pos(x, 8, 50.0) > percentile_pos(x, 8, 100.0)


def test_statistics_over_batch_positions():
    votes = Counter({3: 2, 4: 1, 7: 1})
    assert combine_positions(votes, "modal") == 3
    assert combine_positions(votes, "max") == 3             # the lowest position: the widest range
    assert combine_positions(votes, "mean") == 4            # 17 / 4 = 4.25
    assert combine_positions(Counter({3: 1, 4: 1}), "mean") == 3   # 3.5: a half rounds down (safer)
    assert combine_positions(votes, "median") == 3          # lower median of 3 3 4 7
    assert combine_positions(Counter({5: 2, 6: 2}), "modal") == 5
    obs = Observer(8, "diffs", statistic="max")
    for s in (1.0, 8.0, 1.0):
        obs.update(torch.linspace(-s, s, 101))
    assert obs.result() == min(obs.votes)


def test_config_keys(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"include_bias_corr": False, "include_cle": False,
                             "overall_quantize_config": {"method": "percentile", "percentage": 99.9,
                                                         "calib_statistic_method": "median"}}))
    c = load_config(p)
    assert (c.method, c.percentage, c.calib_statistic_method, c.include_bias_corr, c.include_cle) == \
        ("percentile", 99.9, "median", False, False)
    d = load_config(None)
    assert (d.include_bias_corr, d.include_cle) == (True, True)
    for bad, words in (({"overall_quantize_config": {"method": "mse", "calib_statistic_method": "mean"}},
                        "decides over all batches itself"),
                       ({"overall_quantize_config": {"calib_statistic_method": "mode"}}, "not one of"),
                       ({"overall_quantize_config": {"percentage": 0}}, "percentage"),
                       ({"overall_quantize_config": {"method": "entropy"}}, "not supported"),
                       ({"include_cle": "yes"}, "true or false")):
        p.write_text(json.dumps(bad))
        with pytest.raises(ConfigError, match=words):
            load_config(p)


@pytest.mark.parametrize("method", ["mse", "percentile"])
def test_methods_are_bitexact_with_the_deploy_graph(zoo, tmp_path, method):
    model, shape = zoo("tiny_resnet")
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"overall_quantize_config": {"method": method}}))
    q = quantize_roundtrip(model, shape, tmp_path / "q", quant_config_file=str(cfg))
    assert q.config.method == method
    assert_bitexact_with_deploy(q, torch.randn(2, *shape[1:], generator=torch.Generator().manual_seed(5)))
