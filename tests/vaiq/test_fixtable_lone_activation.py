"""vaiq.fixtable: an activation standing alone runs on the DPU as an identity depthwise conv with its
weights at fix position 0 (xir.transforms.fold_fix), so refinement gives it the conv shift_cut range:
fp_in - fp_out in [0, 16]. A lone hard-swish runs on the ALU and keeps a finer output."""
import pytest
import torch
from torch import nn

from vaiq.capture import capture
from vaiq.fixtable import FixTable
from vaiq.prepare import prepare


class PoolThenAct(nn.Module):
    def __init__(self, act):
        super().__init__()
        self.conv, self.pool, self.act = nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), act

    def forward(self, x):
        return self.act(self.pool(self.conv(x)))


def _table(act):
    """The FixTable of max-pool -> ``act`` with every position 5 (weights 6, biases 8), and the lone
    activation's node."""
    g = prepare(capture(PoolThenAct(act).eval(), (torch.randn(1, 3, 9, 9),)))
    lone = [n for n in g.nodes if n.inputs and g.node(n.inputs[0]).kind == "maxpool2d"][0]
    t = FixTable(g)
    for root in t.members():
        t.pos[root] = 5
    for n in g.nodes:
        for k in n.params:
            t.param_pos[f"{n.name}.{k}"] = 6 if k == "weight" else 8
    return t, lone


@pytest.mark.parametrize("act", [nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(26 / 256)])
@pytest.mark.parametrize("fp_out, want", [(7, 5), (5, 5), (3, 3), (-12, -11)])
def test_lone_activation_output_obeys_shift_cut(act, fp_out, want):
    t, lone = _table(act)
    assert lone.quant == "own" and lone.act is None
    t.pos[t.root(lone.name)] = fp_out
    assert bool(t.violations()) == (fp_out != want)
    t.refine()
    assert t.get(lone.name) == want and t.violations() == []


def test_lone_hard_swish_keeps_a_finer_output():
    t, lone = _table(nn.Hardswish())
    t.pos[t.root(lone.name)] = 7
    t.refine()
    assert t.get(lone.name) == 7
