"""The key test of the runtime: for every example model, on each DPU family and random inputs, the
emulator's outputs equal vaiq's quant_model and the xir reference execution bit for bit."""

import numpy as np
import pytest
import torch

import xir
from xir.interp import dequantize_value, run_graph
from xir.transforms import fold_fix_ops
from vaic.pipeline import compile_graph
from vaic.writer import write_outputs
from vairun import GraphRunner

from flow import to_nhwc, zoo_quantizer

MODELS = ["ffn", "digits_cnn", "tiny_resnet", "tiny_mobilenet", "tiny_inception", "tiny_squeezenet",
          "leaky_net", "partial_net"]
QUICK_TARGETS = ["DPUCZDX8G/KV260", "DPUCADF8H/U250"]
MORE_TARGETS = ["DPUCZDX8G/B512", "DPUCZDX8G/Ultra96", "DPUCAHX8H/U50", "DPUCVDX8G/VCK190", "DPUCADX8G/U250"]


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    return zoo_quantizer(tmp_path_factory)


def check(name, target, quantized, tmp_path, batch=3):
    q, path = quantized(name)
    res = compile_graph(path, target)
    files = write_outputs(res, tmp_path / "c", "m")
    runner = GraphRunner(files["m.xmodel"])
    shape = q.graph.input_shapes[q.graph.inputs[0]]
    x = torch.randn(batch, *shape[1:], generator=torch.Generator().manual_seed(17)) * 1.3
    with torch.no_grad():
        expect = to_nhwc(q.quant_model(x).numpy())
    got = list(runner.run([to_nhwc(x.numpy())]).values())
    assert len(got) == 1
    h = fold_fix_ops(xir.Graph.deserialize(path))
    r = run_graph(h, {q.graph.inputs[0]: to_nhwc(x.numpy())})
    ref = dequantize_value(h, next(iter(r)), next(iter(r.values())))
    assert got[0].shape == expect.shape == ref.shape
    assert int(np.count_nonzero(got[0] != expect)) == 0
    assert int(np.count_nonzero(ref != expect)) == 0
    return res


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("target", QUICK_TARGETS)
def test_emulator_equals_quantizer_and_reference(model, target, quantized, tmp_path):
    res = check(model, target, quantized, tmp_path)
    if model in ("tiny_resnet", "digits_cnn", "tiny_squeezenet"):
        assert res.dpu_subgraphs, "these models must really run on the DPU"


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("target", MORE_TARGETS)
def test_emulator_equals_quantizer_on_more_targets(model, target, quantized, tmp_path):
    check(model, target, quantized, tmp_path)
