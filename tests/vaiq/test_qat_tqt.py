"""vaiq.qat.tqt: the TQT fake-quantizer's forward (power-of-two scale from ceil(log2_t), the test-mode
rounding) and its gradients (straight-through inside the range, TQT's threshold gradient)."""
import math

import pytest
import torch

from vaiq.calib import fake_quant
from vaiq.qat.tqt import fix_pos, log2_threshold, tqt_quantize


@pytest.mark.parametrize("bits, mode", [(8, "DPU_ROUND"), (4, "STD_ROUND"), (8, "STD_ROUND")])
@pytest.mark.parametrize("log2_t", [-1.3, 0.0, 0.2, 2.7])
def test_forward_is_fake_quant_at_the_threshold_position(bits, mode, log2_t):
    x = torch.randn(1000, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    fp = fix_pos(log2_t, bits)
    assert fp == bits - 1 - math.ceil(log2_t)
    got = tqt_quantize(x, torch.tensor(log2_t), bits, mode)
    assert torch.equal(got, fake_quant(x, fp, bits, mode))


def test_threshold_and_position_are_inverse():
    for bits in (4, 8):
        for pos in range(-4, 13):
            assert fix_pos(log2_threshold(pos, bits), bits) == pos


def test_gradients_follow_tqt():
    # bits 4, log2_t 0.5 -> ceil 1 -> scale 2 / 8 = 0.25; range [-8, 7] steps
    x = torch.tensor([0.3, 5.0, -0.61, -3.0], requires_grad=True)
    t = torch.tensor(0.5, requires_grad=True)
    y = tqt_quantize(x, t, 4, "DPU_ROUND")
    assert y.tolist() == [0.25, 1.75, -0.5, -2.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 1.0, 0.0]        # straight through inside, zero when clipped
    s = 0.25
    v = [0.3 / s, 5.0 / s, -0.61 / s, -3.0 / s]
    expect = s * math.log(2) * ((1 - v[0]) + 7 + (-2 - v[2]) + (-8))
    assert t.grad.item() == pytest.approx(expect, rel=1e-5)


def test_threshold_gradient_grows_a_clipping_threshold_and_shrinks_a_loose_one():
    """Descending the squared quantization error moves log2_t towards the tensor's range."""
    x = torch.randn(4096, generator=torch.Generator().manual_seed(0))
    for start, direction in ((-3.0, 1), (6.0, -1)):
        t = torch.tensor(start, requires_grad=True)
        ((tqt_quantize(x, t, 8) - x) ** 2).sum().backward()
        assert -t.grad.item() * direction > 0
