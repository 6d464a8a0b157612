"""quant_config_file: pytorch_nndct's keys with its defaults; values a DPU cannot run are errors naming
the key and the file; unknown keys are errors; the keep_* switches keep layers float through vaic
and vairun bit-exactly; convert_relu6_to_relu rewrites ReLU6; input rounding std_round reaches vairun."""
import json
from pathlib import Path

import pytest
import torch

from flow import assert_bitexact_with_deploy, assert_emulator_equals, quantize_roundtrip
from vaiq import torch_quantizer
from vaiq.config import QuantConfig, load_config
from vaiq.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quant_config" / "dpu_default.json"
TARGET = "DPUCZDX8G/KV260"


def write(tmp_path, cfg) -> str:
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps(cfg))
    return str(p)


def test_example_file_spells_out_the_defaults():
    cfg = load_config(EXAMPLE)
    data = json.loads(EXAMPLE.read_text())
    assert data["target_device"] == "DPU"
    assert sorted(data["quantizable_data_type"]) == ["activation", "bias", "input", "weights"]
    default = QuantConfig()
    # the example spells out pytorch_nndct's input rounding (std_round); all else is vaiq's default
    assert cfg.round_in == "STD_ROUND" and default.round_in == "DPU_ROUND"
    cfg.round_in = default.round_in
    assert cfg == default


@pytest.mark.parametrize("cfg, attr, value", [
    ({"convert_relu6_to_relu": True}, "relu6_to_relu", True),
    ({"convert_silu_to_hswish": True}, "silu_to_hswish", True),
    ({"keep_first_last_layer_accuracy": True}, "keep_first_last", True),
    ({"keep_add_layer_accuracy": True}, "keep_add", True),
    ({"include_cle": False, "include_bias_corr": False}, "include_cle", False),
    ({"overall_quantize_config": {"method": "mse"}}, "method", "mse"),
    ({"overall_quantize_config": {"calib_statistic_method": "median"}}, "calib_statistic_method", "median"),
    ({"target_device": "DPU"}, "bits_a", 8),
    ({"quantizable_data_type": ["weights", "activation", "input", "bias"]}, "bits_w", 8),
    ({"overall_quantize_config": {"bit_width": 6}}, "bits_in", 6),
    ({"overall_quantize_config": {"method": "maxmin"}}, "method", "maxmin"),
    ({"overall_quantize_config": {"percentage": 99.9}}, "percentage", 99.9),
    ({"overall_quantize_config": {"calib_statistic_method": "modal"}}, "calib_statistic_method", "modal"),
    ({"overall_quantize_config": {"symmetry": True, "per_channel": False, "signed": True, "narrow_range": False,
                                  "scale_type": "poweroftwo"}}, "bits_b", 8),
    ({"tensor_quantize_config": {"activation": {"round_mode": "half_up"}}}, "round_a", "DPU_ROUND"),
    ({"tensor_quantize_config": {"input": {"round_mode": "std_round"}}}, "round_in", "STD_ROUND"),
    ({"tensor_quantize_config": {"input": {"round_mode": "half_up"}}}, "round_in", "DPU_ROUND"),
    ({"tensor_quantize_config": {"weights": {"round_mode": "std_round", "bit_width": 7}}}, "bits_w", 7),
    ({"tensor_quantize_config": {"bias": {"bit_width": 12}}}, "bits_b", 12),
    ({"tensor_quantize_config": {"input": {"bit_width": 10}}}, "bits_in", 10),
])
def test_accepted_values(cfg, attr, value, tmp_path):
    assert getattr(load_config(write(tmp_path, cfg)), attr) == value


@pytest.mark.parametrize("cfg, message", [
    ({"bit_widht": 8}, r"unknown key\(s\) \['bit_widht'\] in 'top level'"),
    ({"overall_quantize_config": {"rounding": "x"}}, r"unknown key\(s\) \['rounding'\] in 'overall_quantize_config'"),
    ({"tensor_quantize_config": {"output": {}}}, r"\['output'\] in 'tensor_quantize_config'"),
    ({"tensor_quantize_config": {"bias": {"granularity": 1}}}, r"\['granularity'\] in 'tensor_quantize_config.bias'"),
    ({"layer_quantize_config": [{"layer_name": "a", "scope": 1}]}, r"\['scope'\] in 'layer_quantize_config\[0\]'"),
    ({"layer_quantize_config": [{"layer_name": "a", "tensor_quantize_config": {"input": {}}}]},
     r"\['input'\] in 'layer_quantize_config\[0\].tensor_quantize_config'"),
    ({"target_device": "CPU"}, "target_device = 'CPU': vaiq quantizes for DPU targets only"),
    ({"target_device": "GPU"}, "target_device = 'GPU'"),
    ({"quantizable_data_type": ["weights", "bias"]}, "quantizable_data_type = .*list all four"),
    ({"quantizable_data_type": ["weights", "output"]}, "quantizable_data_type must be a list of"),
    ({"convert_relu6_to_relu": 1}, "convert_relu6_to_relu must be true or false"),
    ({"keep_add_layer_accuracy": "yes"}, "keep_add_layer_accuracy must be true or false"),
    ({"include_cle": 1}, "include_cle must be true or false"),
    ({"overall_quantize_config": {"method": "mse", "calib_statistic_method": "max"}},
     "calib_statistic_method 'max' combines per-batch positions, which method 'mse'"),
    ({"overall_quantize_config": {"symmetry": False}}, r"overall_quantize_config.symmetry = False is not supported"),
    ({"overall_quantize_config": {"per_channel": True}}, r"overall_quantize_config.per_channel = True"),
    ({"tensor_quantize_config": {"weights": {"per_channel": True}}}, r"tensor_quantize_config.weights.per_channel"),
    ({"overall_quantize_config": {"signed": False}}, r"overall_quantize_config.signed = False"),
    ({"overall_quantize_config": {"narrow_range": True}}, r"overall_quantize_config.narrow_range = True"),
    ({"overall_quantize_config": {"scale_type": "float"}}, r"scale_type = 'float' is not supported .*poweroftwo"),
    ({"overall_quantize_config": {"calib_statistic_method": "maximum"}}, r"calib_statistic_method 'maximum' is not one of"),
    ({"overall_quantize_config": {"method": "entropy"}}, r"overall_quantize_config.method 'entropy' is not supp"),
    ({"overall_quantize_config": {"bit_width": 3}}, r"overall_quantize_config.bit_width must be .* 4 to 16"),
    ({"overall_quantize_config": {"percentage": 0}}, r"percentage must be a number in \(0, 100\]"),
    ({"overall_quantize_config": {"round_mode": "half_down"}}, r"round_mode 'half_down' is not supported"),
    ({"overall_quantize_config": {"round_mode": "std_round"}},
     r"overall_quantize_config.round_mode = 'STD_ROUND' sets the rounding of activation, .*'half_up'; set round_mode "
     r"per tensor"),
    ({"tensor_quantize_config": {"activation": {"round_mode": "half_even"}}},
     r"tensor_quantize_config.activation.round_mode = 'PY3_ROUND' sets the rounding of activation"),
    ({"tensor_quantize_config": {"weights": {"round_mode": "half_up"}}},
     r"rounding of weights, which DPU targets round with 'std_round'"),
    ({"tensor_quantize_config": {"input": {"round_mode": "half_even"}}}, r"rounding of input, .*'half_up' or 'std_round'"),
    ({"tensor_quantize_config": {"weights": {"method": "maxmin"}, "activation": {"method": "diffs"}}},
     "vaiq uses one method for all tensors"),
    ({"layer_quantize_config": {}}, "layer_quantize_config must be a list"),
    ({"layer_quantize_config": [{"quantizable": False}]}, r"layer_quantize_config\[0\] needs layer_type or layer_name"),
    ({"layer_quantize_config": [{"layer_type": None, "layer_name": None}]}, "needs layer_type or layer_name"),
    ({"layer_quantize_config": [{"layer_type": "Conv2d", "quantizable_data_type": ["weights"]}]},
     r"layer_quantize_config\[0\].quantizable_data_type = \['weights'\]: a DPU layer quantizes"),
    ({"layer_quantize_config": [{"layer_type": "Conv2d", "overall_quantize_config": {"per_channel": True}}]},
     r"layer_quantize_config\[0\].overall_quantize_config.per_channel = True"),
    ({"layer_quantize_config": [{"layer_type": "Conv2d", "overall_quantize_config": {"method": "maxmin"}}]},
     r"layer_quantize_config\[0\].overall_quantize_config.method = 'maxmin' differs from the model's 'diffs'"),
    ({"layer_quantize_config": [{"layer_name": "c",
                                 "tensor_quantize_config": {"activation": {"round_mode": "std_round"}}}]},
     r"layer_quantize_config\[0\].tensor_quantize_config.activation.round_mode = 'STD_ROUND'"),
])
def test_errors_name_the_key_and_the_file(cfg, message, tmp_path):
    path = write(tmp_path, cfg)
    with pytest.raises(ConfigError, match=message) as e:
        load_config(path)
    assert str(e.value).startswith(path + ": ")


def test_layer_rules_in_nndct_shape(zoo, tmp_path):
    """By layer_type (the torch class, as nndct writes it) and by layer_name, nested parameters."""
    model, shape = zoo("tiny_resnet")
    cfg = write(tmp_path, {"layer_quantize_config": [
        {"layer_type": "torch.nn.Linear", "layer_name": None, "quantizable_data_type": []},
        {"layer_type": None, "layer_name": "conv2d", "quantizable_data_type": ["weights", "bias", "activation"],
         "overall_quantize_config": {"bit_width": 8},
         "tensor_quantize_config": {"weights": {"bit_width": 6}, "bias": {"bit_width": 10}}}]})
    q = quantize_roundtrip(model, shape, tmp_path, batches=2, batch=2, quant_config_file=cfg)
    lin = next(n for n in q.graph.nodes if n.kind == "inner-product")
    assert lin.quant == "float" and "layer_quantize_config" in lin.reason
    conv = q.graph.node("conv2d")
    assert conv.quant == "own"
    assert q.table.param_bits["conv2d.weight"] == 6 and q.table.param_bits["conv2d.bias"] == 10
    assert q.table.bw("conv2d") == 8
    others = [k for k in q.table.param_bits if k.endswith(".weight") and not k.startswith("conv2d.")]
    assert others and all(q.table.param_bits[k] == 8 for k in others)


def assert_onnx_within_one_step(q, x, tmp_path):
    """The ONNX export holds the float layers too; onnxruntime (default session options) gives
    quant_model's result within one step (float32 layers may round their last bit differently), a
    float output to float32 precision."""
    import numpy as np
    import onnxruntime as ort
    from vaiq.export_onnx import export_onnx
    path = export_onnx(q, tmp_path / "onnx", dynamic_batch=True)
    (out,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {q.graph.inputs[0]: x.numpy()})
    with torch.no_grad():
        ref = q.quant_model(x).numpy()
    from vaiq.prepare import has_fix
    if has_fix(q.graph.node(q.graph.outputs[0])):
        assert np.abs(out.astype(np.float64) - ref).max() <= 2.0 ** -q.table.get(q.graph.outputs[0])
    else:                          # a float last layer: float32 sums in another order
        assert np.allclose(out, ref, rtol=1e-5, atol=1e-5)


def _float_nodes(q):
    return {n.name: n.reason for n in q.graph.nodes if n.quant == "float"}


def test_keep_first_last_layer_accuracy_runs_on_cpu_bit_exact(zoo, tmp_path):
    model, shape = zoo("tiny_resnet")
    q = quantize_roundtrip(model, shape, tmp_path / "q", batches=2, batch=2,
                           quant_config_file=write(tmp_path, {"keep_first_last_layer_accuracy": True}))
    layers = [n for n in q.graph.nodes if n.kind in ("conv2d", "inner-product")]
    kept = {n: r for n, r in _float_nodes(q).items() if "keep_first_last_layer_accuracy" in r}
    assert set(kept) == {layers[0].name, layers[-1].name}
    assert all(n.quant == "own" for n in layers[1:-1])
    x = torch.randn(2, *shape[1:], generator=torch.Generator().manual_seed(3))
    res = assert_emulator_equals(q, TARGET, tmp_path / "c", x)
    assert res.dpu_subgraphs and [s for s in res.subgraphs if s.get_attr("device") == "CPU"]
    assert_onnx_within_one_step(q, x, tmp_path)


def test_keep_add_layer_accuracy_runs_on_cpu_bit_exact(zoo, tmp_path):
    model, shape = zoo("tiny_resnet")
    q = quantize_roundtrip(model, shape, tmp_path / "q", batches=2, batch=2,
                           quant_config_file=write(tmp_path, {"keep_add_layer_accuracy": True}))
    adds = [n for n in q.graph.nodes if n.kind == "add"]
    assert adds and all(n.quant == "float" and n.reason == "kept float by keep_add_layer_accuracy" for n in adds)
    assert all(n.act is None for n in adds)           # the ReLU after an add is not fused into a float add
    x = torch.randn(2, *shape[1:], generator=torch.Generator().manual_seed(4))
    res = assert_emulator_equals(q, TARGET, tmp_path / "c", x)
    assert res.dpu_subgraphs and [s for s in res.subgraphs if s.get_attr("device") == "CPU"]
    assert_onnx_within_one_step(q, x, tmp_path)


def test_convert_relu6_to_relu(zoo, tmp_path):
    model, shape = zoo("tiny_mobilenet")
    plain = torch_quantizer("float", model, (torch.randn(*shape),), output_dir=str(tmp_path / "a"))
    assert any(n.kind == "relu6" or n.act == "relu6" for n in plain.graph.nodes)
    q = quantize_roundtrip(model, shape, tmp_path / "q", batches=2, batch=2,
                           quant_config_file=write(tmp_path, {"convert_relu6_to_relu": True}))
    assert not any(n.kind == "relu6" or n.act == "relu6" for n in q.graph.nodes)
    assert any(n.act == "relu" for n in q.graph.nodes if n.kind == "conv2d")
    # the float model changes: relu6 clamps at 6, relu does not
    conv = torch_quantizer("float", model, (torch.randn(*shape),), output_dir=str(tmp_path / "b"),
                           quant_config_file=write(tmp_path, {"convert_relu6_to_relu": True}))
    x = torch.randn(2, *shape[1:], generator=torch.Generator().manual_seed(5)) * 20
    with torch.no_grad():
        assert not torch.equal(plain.quant_model(x), conv.quant_model(x))
    assert_bitexact_with_deploy(q, x)


def test_input_std_round_reaches_vairun(zoo, tmp_path):
    """nndct's DPU rounding of inputs (std_round, ties away from zero) is written into the deploy model;
    negative ties then differ from half up, and vaic + vairun reproduce quant_model bit for bit."""
    model, shape = zoo("tiny_resnet")
    std = quantize_roundtrip(model, shape, tmp_path / "s", batches=2, batch=2, quant_config_file=write(
        tmp_path, {"tensor_quantize_config": {"input": {"round_mode": "std_round"}}}))
    up = quantize_roundtrip(model, shape, tmp_path / "u", batches=2, batch=2)
    assert std.config.round_in == "STD_ROUND" and up.config.round_in == "DPU_ROUND"
    fp = std.table.get(std.graph.inputs[0])
    assert fp == up.table.get(up.graph.inputs[0])
    ints = torch.randint(-40, 40, (2, *shape[1:]), generator=torch.Generator().manual_seed(8)).double()
    x = ((ints + 0.5) * 2.0 ** -fp).float()           # every element a tie
    with torch.no_grad():
        assert not torch.equal(std.quant_model(x), up.quant_model(x))
    assert_emulator_equals(std, TARGET, tmp_path / "c", x)
    assert_bitexact_with_deploy(std, x)
