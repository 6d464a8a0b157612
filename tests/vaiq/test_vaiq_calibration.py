"""Calibration (diffs / maxmin / mode over batches) and the DPU constraint refinement."""
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from vaiq.calib import Observer, diffs_pos, overflow_safe_pos, param_pos
from xir import fixpoint

from flow import quantize_roundtrip


def brute_diffs(x: np.ndarray, bw: int, mode: str) -> int:
    """Independent diffs method: exact rationals, every candidate position."""
    lo, hi = -(2 ** (bw - 1)), 2 ** (bw - 1) - 1
    xmin, xmax = float(x.min()), float(x.max())
    step = max(xmin / (lo - 0.5), xmax / (hi + 0.5))
    pos0 = 12 if step <= 0 else min(math.floor(math.log2(1 / step)), 12)
    best, best_err = None, None
    for p in range(pos0, min(pos0 + 5, 13)):
        err = Fraction(0)
        for v in x.reshape(-1).tolist():
            s = Fraction(v) * 2 ** p
            if mode == "DPU_ROUND":
                q = math.floor(s + Fraction(1, 2))
            else:
                q = int(math.copysign(math.floor(abs(s) + Fraction(1, 2)), float(s)))
            q = min(max(q, lo), hi)
            err += (Fraction(q, 2 ** p) - Fraction(v)) ** 2
        if best_err is None or err < best_err:
            best, best_err = p, err
    return best


@pytest.mark.parametrize("seed", range(6))
def test_diffs_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(300) * rng.uniform(0.01, 20)).astype(np.float32)
    if seed % 2:
        x[rng.integers(0, 300, 3)] *= 8  # outliers
    assert diffs_pos(torch.from_numpy(x), 8, "DPU_ROUND") == brute_diffs(x, 8, "DPU_ROUND")
    assert param_pos(torch.from_numpy(x), 8, "diffs") == brute_diffs(x, 8, "STD_ROUND")


def test_overflow_safe_start_and_caps():
    assert overflow_safe_pos(-1.0, 1.0, 8) == 6          # step 1/127.5 -> 127.5 -> 6
    assert overflow_safe_pos(-2.0, 0.5, 8) == 6          # 128.5/2 = 64.25 -> 6
    assert overflow_safe_pos(0.0, 0.0, 8) == 12          # all zeros take the cap
    assert overflow_safe_pos(-1e-9, 1e-9, 8) == 12
    assert overflow_safe_pos(-300.0, 300.0, 8) == -2     # negative positions are allowed
    assert overflow_safe_pos(-1e-9, 1e-9, 16) == 20      # cap bw + 4 above 8 bits


def test_mode_over_batches_and_tie_keeps_lower():
    obs = Observer(8, "diffs")
    small = torch.linspace(-0.9, 0.9, 101)
    big = small * 4
    for t in (small, small, big):
        obs.update(t)
    assert obs.result() == diffs_pos(small, 8, "DPU_ROUND")
    tie = Observer(8, "diffs")
    tie.update(small)
    tie.update(big)
    assert tie.result() == min(diffs_pos(small, 8, "DPU_ROUND"), diffs_pos(big, 8, "DPU_ROUND"))
    mm = Observer(8, "maxmin")
    for t in (small, big):
        mm.update(t)
    assert mm.result() == overflow_safe_pos(float(big.min()), float(big.max()), 8)
    inp = Observer(8, "diffs", inputs_only_safe=True)
    inp.update(small)
    assert inp.result() == overflow_safe_pos(-0.9, 0.9, 8)


class TwoScales(torch.nn.Module):
    """Two branches 1000x apart meet in an add: forces shift_read/shift_write refinement."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(3, 4, 1)
        self.b = torch.nn.Conv2d(3, 4, 1)
        self.m = torch.nn.Conv2d(4, 4, 1)
        with torch.no_grad():
            self.a.weight.mul_(0.001)
            self.a.bias.mul_(0.001)
            self.b.weight.mul_(3.0)

    def forward(self, x):
        y = self.a(x) + self.b(x)
        return self.m(y) * self.a(x)


def test_refinement_satisfies_every_dpu_constraint(tmp_path):
    from vaiq import torch_quantizer
    c = torch_quantizer("calib", TwoScales().eval(), (torch.randn(1, 3, 6, 6),), output_dir=str(tmp_path / "c"))
    c.quant_model(torch.randn(4, 3, 6, 6))
    c.export_quant_config()
    assert any("shift_read" in line for line in c.refine_log)  # the model really needed refinement
    q = quantize_roundtrip(TwoScales().eval(), (1, 3, 6, 6), tmp_path)
    t = q.table
    assert t.violations() == []
    add = next(n for n in q.graph.nodes if n.kind == "add")
    ips = [t.get(i) for i in add.inputs]
    assert max(ips) - min(ips) <= 7
    assert -7 <= min(ips) - t.get(add.name) <= 25
    mul = next(n for n in q.graph.nodes if n.kind == "mul")
    assert 0 <= sum(t.get(i) for i in mul.inputs) - t.get(mul.name) <= 32
    for n in q.graph.nodes:
        if n.kind == "conv2d":
            assert fixpoint.check_conv_shifts(t.get(n.inputs[0]), t.param_pos[f"{n.name}.weight"],
                                              t.param_pos[f"{n.name}.bias"], t.get(n.name)) == []


@pytest.mark.parametrize("name", ["tiny_inception", "tiny_squeezenet", "tiny_resnet"])
def test_concat_and_maxpool_share_fix_positions(name, zoo, tmp_path):
    model, shape = zoo(name)
    q = quantize_roundtrip(model, shape, tmp_path)
    t = q.table
    for n in q.graph.nodes:
        if n.kind == "concat":
            assert {t.get(i) for i in n.inputs} == {t.get(n.name)}
        if n.kind == "maxpool2d":
            assert t.get(n.name) == t.get(n.inputs[0])
    assert t.violations() == []
