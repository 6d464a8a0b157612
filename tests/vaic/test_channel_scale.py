"""Squeeze-excite gates: an image times a per-channel vector runs on the depthwise engine with the
vector LOADed as its weights per image (vaic/backend/scale.py), bit-exact through vaiq -> vaic -> vairun."""
import pytest
import torch
from torch import nn

from xir.target import load_target
from xir.target.placement import OpDesc, engine, is_channel_scale, misfit

from flow import assert_emulator_equals, quantize_roundtrip


class SqueezeExcite(nn.Module):
    def __init__(self, c, gate, gate_first=False):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, c // 4, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(c // 4, c, 1)
        self.gate = gate
        self.gate_first = gate_first

    def forward(self, x):
        s = self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))
        return s * x if self.gate_first else x * s


class GatedNet(nn.Module):
    def __init__(self, gate, gate_first=False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 37, 3, padding=1), nn.ReLU(inplace=True))
        self.se = SqueezeExcite(37, gate, gate_first)
        self.head = nn.Conv2d(37, 5, 1)

    def forward(self, x):
        return self.head(self.se(self.stem(x)))


def _run(model, key, tmp_path, shape=(1, 3, 7, 6)):
    q = quantize_roundtrip(model, shape, tmp_path / "q")
    x = torch.randn(3 if shape[2] < 20 else 2, *shape[1:], generator=torch.Generator().manual_seed(4)) * 2
    return assert_emulator_equals(q, key, tmp_path / "c", x)


@pytest.mark.parametrize("gate_first", [False, True])
@pytest.mark.parametrize("key", ["DPUCZDX8G/KV260", "DPUCVDX8G/VCK190"])
def test_hard_sigmoid_gate_is_one_dpu_subgraph(key, gate_first, tmp_path):
    torch.manual_seed(0)
    res = _run(GatedNet(nn.Hardsigmoid(), gate_first).eval(), key, tmp_path)
    assert [s.get_attr("device") for s in res.subgraphs] == ["USER", "DPU"]
    logs = [line for p in res.programs.values() for line in p.log]
    assert any("per-channel scale of 7x6x37" in line for line in logs)


def test_sigmoid_gate_runs_on_the_cpu_and_the_scale_on_the_dpu(tmp_path):
    torch.manual_seed(0)
    res = _run(GatedNet(nn.Sigmoid()).eval(), "DPUCZDX8G/KV260", tmp_path)
    cpu = {op for s in res.subgraphs if s.get_attr("device") == "CPU" for op in s.get_attr("cpu_reasons")}
    assert "sigmoid" in cpu and not any(op.startswith("mul") for op in cpu)


def test_channel_scale_rule():
    kv260, u250 = load_target("DPUCZDX8G/KV260"), load_target("DPUCADF8H/U250")
    d = OpDesc("eltwise-fix", "eltwise", mode="MUL", n_inputs=2, input_shapes=((1, 7, 6, 37), (1, 1, 1, 37)))
    assert is_channel_scale(d) and misfit(d, kv260) is None and engine(d, kv260) == "DWCONV"
    other = OpDesc("eltwise-fix", "eltwise", mode="MUL", n_inputs=2, input_shapes=((1, 7, 6, 37), (1, 7, 1, 37)))
    assert not is_channel_scale(other) and misfit(other, kv260).code == "BROADCAST"
    add = OpDesc("eltwise-fix", "eltwise", mode="ADD", n_inputs=2, input_shapes=((1, 7, 6, 37), (1, 1, 1, 37)))
    assert misfit(add, kv260).code == "BROADCAST"
    if not u250.limits.depthwise:
        assert misfit(d, u250).code == "NO_ENGINE"


def test_gate_of_a_large_map_bit_exact(tmp_path):
    """The squeeze of a 45x38 map: a global pool whose rows exceed four sweeps of PP lanes with
    stride 1 (vaic/backend/pool.py groups them)."""
    torch.manual_seed(1)
    res = _run(GatedNet(nn.Hardsigmoid()).eval(), "DPUCZDX8G/KV260", tmp_path, (1, 3, 45, 38))
    assert [s.get_attr("device") for s in res.subgraphs] == ["USER", "DPU"]
