"""Every example model compiles for every target of the bundled arch library (issue 4), with the
tutorial's FFN on DPUCADF8H/U250 (where the original compiler crashed) and on DPUCADX8G."""

import pytest

import xir
from xir.target import list_targets, load_target
from vaic.pipeline import compile_graph
from vaic.writer import write_outputs

from flow import zoo_quantizer

MODELS = ["ffn", "digits_cnn", "tiny_resnet", "tiny_mobilenet", "tiny_inception", "tiny_squeezenet",
          "leaky_net", "partial_net"]
TARGETS = [t for t in list_targets() if load_target(t).compilable]
QUICK = ["DPUCZDX8G/KV260", "DPUCADF8H/U250", "DPUCAHX8H/U50", "DPUCVDX8G/VCK190", "DPUCADX8G/U250",
         "DPUCZDX8G/B512"]


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    get = zoo_quantizer(tmp_path_factory)
    return lambda name: get(name)[1]


def _compile(path, target, out):
    res = compile_graph(path, target)
    files = write_outputs(res, out, "net")
    g = xir.Graph.deserialize(files["net.xmodel"])
    subs = g.get_root_subgraph().toposort_child_subgraph()
    assert subs[0].get_attr("device") == "USER"
    for s in subs:
        if s.get_attr("device") == "DPU":
            assert s.get_attr("dpu_fingerprint") == load_target(target).fingerprint
            assert len(s.get_attr("mc_code")) > 0
    return res


@pytest.mark.parametrize("target", ["DPUCADF8H/U250", "DPUCADX8G/U200", "DPUCADX8G/U250"])
def test_tutorial_ffn_compiles_where_the_original_crashed(target, quantized, tmp_path):
    res = _compile(quantized("ffn"), target, tmp_path / "o")
    assert res.target.name.startswith(target.split("/")[0])


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("target", QUICK)
def test_models_compile_for_each_family(model, target, quantized, tmp_path):
    _compile(quantized(model), target, tmp_path / "o")


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("target", [t for t in TARGETS if t not in QUICK])
def test_models_compile_for_every_target(model, target, quantized, tmp_path):
    _compile(quantized(model), target, tmp_path / "o")
