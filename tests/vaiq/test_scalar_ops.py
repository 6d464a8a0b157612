"""Operations with a constant (``x * 2``, ``x / 6``, ``1 - x``, ``x + 3``, ``-x``) and hard-sigmoid / hard-swish
written by hand (``relu6(x + 3) / 6``, ``x * relu6(x + 3) / 6``, as many MobileNetV3 sources write them):
the hand-written forms become the DPU's hard-sigmoid / hard-swish, other constant operations are float
CPU ops the deploy model holds (with a one-element const); bit-exact through vaiq -> vaic -> vairun."""
import torch
import torch.nn.functional as F
from torch import nn

from flow import assert_bitexact_with_deploy, assert_emulator_equals, quantize_roundtrip


class HandWritten(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 20, 3, padding=1)
        self.f = nn.Conv2d(20, 20, 1)
        self.h = nn.Conv2d(20, 4, 1)

    def forward(self, x):
        y = self.c(x)
        y = y * F.relu6(y + 3.) / 6.                                   # hard-swish
        g = F.relu6(self.f(y.mean((2, 3), keepdim=True)) + 3) * (1 / 6)   # hard-sigmoid gate
        z = self.h(y * g)
        return z * 2 - 1, 0.5 * z, 1 - z, -z


def test_hand_written_forms_and_constant_ops(tmp_path):
    torch.manual_seed(0)
    q = quantize_roundtrip(HandWritten().eval(), (1, 3, 8, 10), tmp_path / "q", batches=2, batch=2)
    kinds = [n.kind for n in q.graph.nodes]
    assert kinds.count("hard-swish") == 1 and kinds.count("hard-sigmoid") == 1 and "relu6" not in kinds
    consts = [n for n in q.graph.nodes if "scalar" in n.attrs]
    assert sorted((n.kind, n.attrs["scalar"], n.attrs["reverse"]) for n in consts) == \
        [("mul", -1.0, False), ("mul", 0.5, False), ("mul", 2.0, False), ("sub", 1.0, False),
         ("sub", 1.0, True)]   # 0.5 * z: torch puts z first; -z is z * -1
    assert all(n.quant == "float" for n in consts)
    x = torch.randn(2, 3, 8, 10, generator=torch.Generator().manual_seed(1))
    assert_bitexact_with_deploy(q, x)
    res = assert_emulator_equals(q, "DPUCZDX8G/KV260", tmp_path / "c", x)
    assert len(res.dpu_subgraphs) == 1
    cpu = {res.graph.get_op(op).get_type() for s in res.subgraphs if s.get_attr("device") == "CPU"
           for op in s.get_attr("cpu_reasons")}
    assert cpu <= {"mul", "sub", "fix2float"}
