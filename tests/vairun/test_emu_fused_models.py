"""Compiled example models re-run on warm machines: the fused path (program.py; CONV groups, DPTWISE,
POOL, ELEW, LOAD/SAVE moves, the batch split over threads) gives the quantizer's outputs bit for bit,
for new inputs too, at batch 1 and 3."""

import numpy as np
import pytest
import torch

from vaic.pipeline import compile_graph
from vaic.writer import write_outputs
from vairun import GraphRunner
from vairun.emu.fast.program import timings

from flow import quantize_roundtrip, to_nhwc

#: every test on both CONV product kernels of the fast executor (conftest.py emu_kernels)
pytestmark = pytest.mark.usefixtures("emu_kernels")


MODELS = ["tiny_mobilenet", "tiny_resnet", "tiny_inception", "leaky_net"]
MORE_TARGETS = ["DPUCZDX8G/B512", "DPUCAHX8H/U50", "DPUCVDX8G/VCK190", "DPUCADX8G/U250"]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("target", ["DPUCZDX8G/KV260", "DPUCADF8H/U250"])
def test_warm_runs_equal_the_quantizer(model, target, tmp_path):
    check(model, target, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("target", MORE_TARGETS)
def test_warm_runs_equal_the_quantizer_on_more_targets(model, target, tmp_path):
    check(model, target, tmp_path)


def check(model, target, tmp_path):
    from vaiq.zoo import MODELS as ZOO, get_model
    q = quantize_roundtrip(get_model(model), ZOO[model].input_shape, tmp_path / "q", batches=2)
    res = compile_graph(q.export_xmodel(), target)
    runner = GraphRunner(write_outputs(res, tmp_path / "c", "m")["m.xmodel"])
    shape = q.graph.input_shapes[q.graph.inputs[0]]
    gen = torch.Generator().manual_seed(3)
    fused_runs = 0
    for batch in (1, 3):
        for k in range(3):  # the first run of a batch size builds the program, the next ones use it
            x = torch.randn(batch, *shape[1:], generator=gen) * 1.3
            with torch.no_grad():
                expect = to_nhwc(q.quant_model(x).numpy())
            with timings() as tm:
                got = list(runner.run([to_nhwc(x.numpy())]).values())
            fused_runs += bool(tm)
            assert got[0].shape == expect.shape
            assert int(np.count_nonzero(got[0] != expect)) == 0
    if res.dpu_subgraphs:
        assert fused_runs == 4
