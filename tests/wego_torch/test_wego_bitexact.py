"""The key test of WeGO-Torch: the compiled module equals vaiq's test-mode quant_model element for
element, at batch 1 and batch > 1, on the zoo's models and on a model with two DPU regions around
CPU ops."""
import pytest
import torch

import wego_torch
from vaiq.zoo import MODELS

from wego_models import compile_opts, inputs

QUICK = ["ffn", "digits_cnn", "tiny_resnet", "tiny_mobilenet", "tiny_inception", "tiny_squeezenet",
         "leaky_net", "partial_net"]
FULL = ["resnet18", "mobilenet_v2", "squeezenet", "inception_v3", "resnet50"]
ON_DPU = {"digits_cnn", "tiny_resnet", "tiny_mobilenet", "tiny_inception", "tiny_squeezenet", "leaky_net",
          "partial_net"}


def check(q, model, shape, cache_dir, batches=(1, 3)):
    wm = wego_torch.compile(model, compile_opts(q.output_dir, cache_dir))
    for b in batches:
        x = inputs(shape, b)
        with torch.no_grad():
            want = q.quant_model(x)
            got = wm(x)
        assert got.shape == want.shape
        assert got.dtype == want.dtype
        assert int((got != want).sum()) == 0, f"batch {b}: {int((got != want).sum())} elements differ"
    return wm


@pytest.mark.parametrize("name", QUICK)
def test_zoo_model_equals_quant_model(name, quantized, cache_dir):
    q, _ = quantized(name)
    wm = check(q, q._float_module, MODELS[name].input_shape, cache_dir)
    s = wm.summary()
    if name in ON_DPU:
        assert s["dpu_subgraphs"], "this model must really run on the DPU"
        assert sum(d["ops"] for d in s["dpu_subgraphs"]) > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", FULL)
def test_full_zoo_model_equals_quant_model(name, quantized, cache_dir):
    q, _ = quantized(name)
    wm = check(q, q._float_module, MODELS[name].input_shape, cache_dir, batches=(1, 2))
    assert wm.summary()["dpu_subgraphs"]


def test_two_dpu_regions_around_cpu_ops(two_regions, cache_dir):
    model, folder, q = two_regions
    wm = check(q, model, (1, 3, 16, 16), cache_dir, batches=(1, 4))
    s = wm.summary()
    assert len(s["dpu_subgraphs"]) >= 2
    kinds = {d["kind"].split(".")[0] for d in s["cpu_ops"]}
    assert {"gelu", "sigmoid", "softmax"} <= kinds
    codes = {d["node"]: d["code"] for d in s["cpu_ops"]}
    assert codes["gelu"] == "NO_XIR_OP"          # cut out of the deploy graph, runs in torch
    assert all(d["reason"] for d in s["cpu_ops"])


def test_partial_net_dpu_steps_really_run(quantized, cache_dir, monkeypatch):
    """The DPU subgraphs are executed by vairun's runners (not silently recomputed in torch)."""
    import vairun
    q, _ = quantized("partial_net")
    wm = wego_torch.compile(q._float_module, compile_opts(q.output_dir, cache_dir))
    calls = []
    real = vairun.Runner.execute_async

    def counting(self, ins, outs):
        calls.append(self.subgraph.get_name())
        return real(self, ins, outs)
    monkeypatch.setattr(vairun.Runner, "execute_async", counting)
    wm(inputs(MODELS["partial_net"].input_shape, 2))
    assert sorted(calls) == sorted(d["name"] for d in wm.summary()["dpu_subgraphs"])
    assert len(calls) == 2
