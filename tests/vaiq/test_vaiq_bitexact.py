"""The key numerics test of the quantizer: for every example model and random inputs, vaiq's test-mode
outputs equal the xir reference execution of the exported deploy graph bit for bit."""
import numpy as np
import pytest
import torch

import xir
from xir.interp import dequantize_value, run_graph
from xir.transforms import fold_fix_ops

from flow import quantize_roundtrip, to_nhwc

MODELS = ["ffn", "digits_cnn", "tiny_resnet", "tiny_mobilenet", "tiny_inception", "tiny_squeezenet",
          "leaky_net", "partial_net"]


def reference_outputs(q, path, xb):
    h = fold_fix_ops(xir.Graph.deserialize(path))
    outs = [q.graph.outputs[0]]
    tail = h.get_tail_ops()
    assert len(tail) == 1
    name = tail[0].name
    rows = []
    for i in range(xb.shape[0]):
        r = run_graph(h, {q.graph.inputs[0]: to_nhwc(xb[i:i + 1].numpy())})
        rows.append(dequantize_value(h, name, r[name]))
    return np.concatenate(rows), outs


@pytest.mark.parametrize("name", MODELS)
def test_quant_model_equals_reference_execution(name, zoo, tmp_path):
    model, shape = zoo(name)
    q = quantize_roundtrip(model, shape, tmp_path)
    xb = torch.randn(3, *shape[1:], generator=torch.Generator().manual_seed(11)) * 1.5
    with torch.no_grad():
        y = q.quant_model(xb)
    path = q.export_xmodel()
    ref, _ = reference_outputs(q, path, xb)
    got = to_nhwc(y.numpy())
    assert got.shape == ref.shape
    assert int(np.count_nonzero(got != ref)) == 0
    assert q.table.violations() == []


@pytest.mark.parametrize("bits", [4, 16])
def test_other_bit_widths_stay_bit_exact(bits, zoo, tmp_path):
    model, shape = zoo("tiny_resnet")
    q = quantize_roundtrip(model, shape, tmp_path, bitwidth=bits)
    info = q.table
    assert {info.bw(n) for n in info.owners()} == {bits}
    xb = torch.randn(2, *shape[1:], generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        y = q.quant_model(xb)
    ref, _ = reference_outputs(q, q.export_xmodel(), xb)
    assert int(np.count_nonzero(to_nhwc(y.numpy()) != ref)) == 0


def test_partial_quantization_by_layer_config(zoo, tmp_path):
    import json
    model, shape = zoo("tiny_mobilenet")
    from vaiq.capture import capture
    g = capture(model, (torch.randn(*shape),))
    hs = next(n for n in g.nodes if n.kind == "hard-swish")
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"layer_quantize_config": [{"layer_name": hs.name, "quantizable": False}]}))
    q = quantize_roundtrip(model, shape, tmp_path, quant_config_file=str(cfg))
    node = q.graph.node(hs.name)
    assert node.quant == "float" and "layer_quantize_config" in node.reason
    xb = torch.randn(2, *shape[1:], generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        y = q.quant_model(xb)
    ref, _ = reference_outputs(q, q.export_xmodel(), xb)
    assert int(np.count_nonzero(to_nhwc(y.numpy()) != ref)) == 0


@pytest.mark.parametrize("model_name, kind", [("tiny_resnet", "conv2d"), ("digits_cnn", "inner-product"),
                                              ("tiny_mobilenet", "conv2d")])
def test_excluded_conv_and_dense_layers_run_float_and_stay_exact(model_name, kind, zoo, tmp_path):
    import json
    model, shape = zoo(model_name)
    from vaiq.capture import capture
    g = capture(model, (torch.randn(*shape),))
    layers = [n for n in g.nodes if n.kind == kind]
    target = layers[0] if model_name != "tiny_mobilenet" else next(n for n in layers if n.attrs["groups"] > 1)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"layer_quantize_config": [{"layer_name": target.name, "quantizable": False}]}))
    q = quantize_roundtrip(model, shape, tmp_path, quant_config_file=str(cfg))
    assert q.graph.node(target.name).quant == "float"
    xb = torch.randn(2, *shape[1:], generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        y = q.quant_model(xb)
    path = q.export_xmodel()
    h = xir.Graph.deserialize(path)
    assert h.get_op(target.name).get_attr("keep_float") is True
    ref, _ = reference_outputs(q, path, xb)
    assert int(np.count_nonzero(to_nhwc(y.numpy()) != ref)) == 0
