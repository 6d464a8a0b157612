"""A separate hard-swish and hard-sigmoid run on the DPU's ALU (ALU DWCONV with HSWISH / HSIGMOID) of
targets whose ALU lists them, bit-exact with vaiq's quant_model and the xir reference; one whose input
fix position the ALUINIT field cannot hold stays on the CPU (HSIGMOID_FIX_POSITION), and a target
without the ALU activations runs them all on the CPU."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import xir
from vaic.pipeline import compile_graph
from vaic.writer import write_outputs
from vairun import GraphRunner
from xir.interp import dequantize_value, run_graph
from xir.isa import ActType
from xir.transforms import fold_fix_ops

from flow import quantize_roundtrip, to_nhwc


class HardActNet(nn.Module):
    """hard-swish of a conv (output finer than input), a hard-sigmoid gate, and a hard-swish of a
    conv scaled so large that its input fix position is negative."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c0 = nn.Conv2d(3, 24, 3, padding=1)
        self.c1 = nn.Conv2d(24, 24, 1)
        self.big = nn.Conv2d(24, 8, 1)
        self.head = nn.Conv2d(8, 4, 1)
        with torch.no_grad():
            self.big.weight.mul_(300.0)
            self.big.bias.add_(200.0)
            self.head.weight.mul_(0.01)

    def forward(self, x):
        a = F.hardswish(self.c0(x))
        g = F.hardsigmoid(self.c1(a))
        return self.head(F.hardswish(self.big(a * g)))


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    q = quantize_roundtrip(HardActNet().eval(), (1, 3, 12, 12), tmp_path_factory.mktemp("hardact"),
                           batches=2, batch=2)
    return q, q.export_xmodel()


def fix_positions(path) -> dict[str, tuple[int, int]]:
    h = fold_fix_ops(xir.Graph.deserialize(path))
    return {op.get_name(): (op.get_input_tensor("input").get_attr("fix_point"),
                            op.get_output_tensor().get_attr("fix_point"))
            for op in h.get_ops() if op.get_name() in ("hardswish_fix", "hardsigmoid_fix", "hardswish_1_fix")}


def run_bit_exact(q, path, key, tmp_path):
    res = compile_graph(path, key)
    files = write_outputs(res, tmp_path / "c", "m")
    x = torch.randn(3, 3, 12, 12, generator=torch.Generator().manual_seed(17)) * 1.3
    with torch.no_grad():
        expect = to_nhwc(q.quant_model(x).numpy())
    got = list(GraphRunner(files["m.xmodel"]).run([to_nhwc(x.numpy())]).values())
    h = fold_fix_ops(xir.Graph.deserialize(path))
    r = run_graph(h, {q.graph.inputs[0]: to_nhwc(x.numpy())})
    ref = dequantize_value(h, next(iter(r)), next(iter(r.values())))
    assert len(got) == 1 and got[0].shape == expect.shape == ref.shape
    assert int(np.count_nonzero(got[0] != expect)) == 0
    assert int(np.count_nonzero(ref != expect)) == 0
    return res


def test_fix_positions_cover_the_cases(quantized):
    _, path = quantized
    fps = fix_positions(path)
    assert fps["hardswish_fix"][0] < fps["hardswish_fix"][1]      # no shift_cut on the ALU: finer output is fine
    assert 0 <= fps["hardsigmoid_fix"][0] <= 15 and fps["hardsigmoid_fix"][0] != fps["hardswish_fix"][0]
    assert fps["hardswish_1_fix"][0] < 0                           # outside hsigmoid_in's [0, 15]


@pytest.mark.parametrize("key", ["DPUCZDX8G/KV260", "DPUCVDX8G/VCK190"])
def test_hard_activations_run_on_the_alu(quantized, key, tmp_path):
    q, path = quantized
    res = run_bit_exact(q, path, key, tmp_path)
    where = res.placements
    assert (where["hardswish_fix"].device, where["hardswish_fix"].code) == ("DPU", "ALU")
    assert (where["hardsigmoid_fix"].device, where["hardsigmoid_fix"].code) == ("DPU", "ALU")
    assert (where["hardswish_1_fix"].device, where["hardswish_1_fix"].code) == ("CPU", "HSIGMOID_FIX_POSITION")
    alu = [i for p in res.programs.values() for i in p.instructions if i.kind == "ALUINIT"]
    fps = fix_positions(path)
    got = {(i["act_type"], i["hsigmoid_in"], i["hsigmoid_out"]) for i in alu}
    assert got == {(ActType.HSWISH, *fps["hardswish_fix"]), (ActType.HSIGMOID, *fps["hardsigmoid_fix"])}
    assert len(res.dpu_subgraphs) == 2                             # split only by the CPU hard-swish


def test_target_without_alu_activations_keeps_them_on_the_cpu(quantized, tmp_path):
    q, path = quantized
    res = run_bit_exact(q, path, "DPUCADF8H/U250", tmp_path)
    for name in ("hardswish_fix", "hardsigmoid_fix", "hardswish_1_fix"):
        p = res.placements[name]
        assert (p.device, p.code) == ("CPU", "ACTIVATION"), (name, p)
    assert not any(i.kind == "ALUINIT" for p in res.programs.values() for i in p.instructions)
