"""The zoo as users bring it (in-place activations, SiLU, SE gates, channel split and shuffle, grouped
convs, detection and segmentation heads): every model quantizes (vaiq), compiles (vaic) and runs on the
emulator (vairun) equal to vaiq's test mode bit for bit, at batch 2, with every output; on DPUCZDX8G/KV260
each is one DPU subgraph (EfficientNet with its hard-sigmoid approximations switched on). The default
suite runs the tiny variants, the slow suite the full-size models."""
import json

import pytest
import torch

from vaiq.zoo import MODELS, get_model

from flow import assert_emulator_equals, quantize_roundtrip

TINY = ["tiny_efficientnet", "tiny_mobilenet_v3", "tiny_shufflenet", "tiny_mnasnet", "tiny_regnet", "tiny_resnext",
        "tiny_yolo", "tiny_unet"]
FULL = ["efficientnet_b0", "mobilenet_v3_small", "shufflenet_v2", "mnasnet", "regnet_x_400mf", "resnext50",
        "yolo_tiny", "unet"]
#: models whose sigmoid / SiLU need the ALU approximations to stay on the DPU
APPROX = {"tiny_efficientnet", "efficientnet_b0"}
SLOW_SHAPES = {"unet": (1, 3, 64, 64)}


def _check(name, key, tmp_path, config=None, shape=None):
    spec = MODELS[name]
    shape = shape or spec.input_shape
    model = get_model(name, input_shape=shape, bn_batches=2)
    q = quantize_roundtrip(model, shape, tmp_path / "q", batches=2, batch=2, quant_config_file=config)
    x = torch.randn(2, *shape[1:], generator=torch.Generator().manual_seed(11))
    return assert_emulator_equals(q, key, tmp_path / "c", x)


def _config(tmp_path, name):
    if name not in APPROX:
        return None
    path = tmp_path / "approx.json"
    path.write_text(json.dumps({"convert_silu_to_hswish": True, "convert_sigmoid_to_hsigmoid": True}))
    return str(path)


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("key", ["DPUCZDX8G/KV260", "DPUCADF8H/U250"])
def test_tiny_zoo_bit_exact(name, key, tmp_path):
    res = _check(name, key, tmp_path, _config(tmp_path, name))
    if key == "DPUCZDX8G/KV260":
        assert len(res.dpu_subgraphs) == 1 and len(res.subgraphs) == 2, [s.get_name() for s in res.subgraphs]


def test_silu_without_the_approximation_runs_sigmoid_on_the_cpu(tmp_path):
    res = _check("tiny_efficientnet", "DPUCZDX8G/KV260", tmp_path)
    kinds = {res.graph.get_op(op).get_type() for s in res.subgraphs if s.get_attr("device") == "CPU"
             for op in s.get_attr("cpu_reasons")}
    assert "sigmoid" in kinds and len(res.dpu_subgraphs) > 1


@pytest.mark.slow
@pytest.mark.parametrize("name", FULL)
@pytest.mark.parametrize("key", ["DPUCZDX8G/KV260", "DPUCADF8H/U250"])
def test_full_zoo_bit_exact(name, key, tmp_path):
    res = _check(name, key, tmp_path, _config(tmp_path, name), SLOW_SHAPES.get(name))
    if key == "DPUCZDX8G/KV260":
        assert len(res.dpu_subgraphs) == 1, [s.get_name() for s in res.subgraphs]
