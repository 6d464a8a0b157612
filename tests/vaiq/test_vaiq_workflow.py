"""The pytorch_nndct workflow on vaiq: modes, quant_info.json format, exports, errors."""
import json
import warnings

import pytest
import torch

import xir
from vaiq import ConfigError, QuantInfoError, VaiqError, dump_xmodel, torch_quantizer
from vaiq.errors import CaptureError

from flow import quantize_roundtrip


def test_quant_info_has_nndct_shape(zoo, tmp_path):
    model, shape = zoo("tiny_resnet")
    quantize_roundtrip(model, shape, tmp_path)
    info = json.loads((tmp_path / "quant_info.json").read_text())
    assert set(info) == {"param", "output", "input", "fast_finetuned", "bias_corrected", "version", "graph_md5",
                         "cle"}
    assert info["fast_finetuned"] is False and info["bias_corrected"] is True   # nndct's default include_bias_corr
    assert (tmp_path / "bias_corr.pth").exists()
    assert len(info["graph_md5"]) == 32
    assert list(info["input"]) == ["ResNet::x"]
    assert all(k.startswith("ResNet::") for k in list(info["param"]) + list(info["output"]))
    for entry in list(info["param"].values()) + list(info["output"].values()) + list(info["input"].values()):
        assert isinstance(entry, list) and len(entry) == 1
        bw, fp = entry[0]
        assert bw == 8 and isinstance(fp, int)
    # parameters are named by module path, BN folded into the conv that precedes it
    assert "ResNet::stem.0.weight" in info["param"] or any(k.endswith(".weight") for k in info["param"])


def test_integer_modes_and_bitwidth_aliases(zoo, tmp_path):
    model, shape = zoo("ffn")
    x = torch.randn(*shape)
    q = torch_quantizer(1, model, (x,), output_dir=str(tmp_path), bitwidth_w=8, bitwidth_a=8)
    assert q.quant_mode == "calib"
    q.quant_model(torch.randn(8, *shape[1:]))
    q.export_quant_config()
    t = torch_quantizer(2, model, x, output_dir=str(tmp_path))
    assert t.quant_mode == "test"
    f = torch_quantizer(0, model, x, output_dir=str(tmp_path))
    with torch.no_grad():
        assert torch.equal(f.quant_model(x), model(x))  # float mode computes the float model


def test_calib_then_test_exports(zoo, tmp_path):
    model, shape = zoo("tiny_squeezenet")
    q = quantize_roundtrip(model, shape, tmp_path)
    with torch.no_grad():
        q.quant_model(torch.randn(1, *shape[1:]))
    p = q.export_xmodel(deploy_check=True)
    assert p.name == "SqueezeNet_int.xmodel"
    g = xir.Graph.deserialize(p)
    kinds = {o.get_type() for o in g.get_ops()}
    assert {"data", "const", "fix", "conv2d", "concat", "maxpool2d"} <= kinds
    fixes = [o for o in g.get_ops() if o.get_type() == "fix"]
    assert all(o.name.endswith("_fix") for o in fixes)
    assert all({"fix_point", "bit_width", "round_mode", "if_signed"} <= set(o.get_attrs()) for o in fixes)
    dump = tmp_path / "deploy_check_data_int"
    manifest = json.loads((dump / "manifest.json").read_text())
    assert manifest and all((dump / m["file"]).stat().st_size > 0 for m in manifest.values())
    # module-level dump_xmodel uses the last quantizer
    out = tmp_path / "again"
    assert dump_xmodel(str(out)).name == "SqueezeNet_int.xmodel"


def test_mode_errors(zoo, tmp_path):
    model, shape = zoo("ffn")
    x = torch.randn(*shape)
    with pytest.raises(QuantInfoError, match="run the quantizer with quant_mode='calib'"):
        torch_quantizer("test", model, (x,), output_dir=str(tmp_path))
    q = torch_quantizer("calib", model, (x,), output_dir=str(tmp_path))
    with pytest.raises(VaiqError, match="no calibration data was seen"):
        q.export_quant_config()
    with pytest.raises(VaiqError, match="needs quant_mode 'test'"):
        q.export_xmodel()
    with pytest.raises(VaiqError, match="quant_mode 'quant' is not one of"):
        torch_quantizer("quant", model, (x,))
    with pytest.raises(VaiqError, match="needs input_args"):
        torch_quantizer("calib", model)
    with pytest.raises(VaiqError, match="takes 1 input tensor"):
        q.quant_model(x, x)
    with pytest.raises(VaiqError, match="input 'x' has shape \\(4, 3\\)"):
        q.quant_model(torch.randn(4, 3))


def test_graph_change_since_calibration_warns(zoo, tmp_path):
    model, shape = zoo("ffn")
    quantize_roundtrip(model, shape, tmp_path)
    info = json.loads((tmp_path / "quant_info.json").read_text())
    info["graph_md5"] = "0" * 32
    (tmp_path / "quant_info.json").write_text(json.dumps(info))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        torch_quantizer("test", model, (torch.randn(*shape),), output_dir=str(tmp_path))
    assert any("changed since calibration" in str(x.message) for x in w)


def test_quant_info_problems_are_named(zoo, tmp_path):
    model, shape = zoo("ffn")
    quantize_roundtrip(model, shape, tmp_path)
    p = tmp_path / "quant_info.json"
    info = json.loads(p.read_text())
    key = next(iter(info["output"]))
    del info["output"][key]
    p.write_text(json.dumps(info))
    with pytest.raises(QuantInfoError, match=f"no entry for tensor '{key}'"):
        torch_quantizer("test", model, (torch.randn(*shape),), output_dir=str(tmp_path))
    p.write_text("{not json")
    with pytest.raises(QuantInfoError, match="not valid JSON"):
        torch_quantizer("test", model, (torch.randn(*shape),), output_dir=str(tmp_path))


def test_v25_flat_entries_are_read(zoo, tmp_path):
    model, shape = zoo("ffn")
    q = quantize_roundtrip(model, shape, tmp_path)
    x = torch.randn(5, *shape[1:])
    with torch.no_grad():
        y = q.quant_model(x)
    p = tmp_path / "quant_info.json"
    info = json.loads(p.read_text())
    for sect in ("param", "output", "input"):
        info[sect] = {k: v[0] for k, v in info[sect].items()}
    p.write_text(json.dumps(info))
    q2 = torch_quantizer("test", model, (torch.randn(*shape),), output_dir=str(tmp_path))
    with torch.no_grad():
        assert torch.equal(q2.quant_model(x), y)


@pytest.mark.parametrize("cfg, message", [
    ({"overall_quantize_config": {"bit_widht": 8}}, "unknown key\\(s\\) \\['bit_widht'\\]"),
    ({"overall_quantize_config": {"method": "entropy"}}, "method 'entropy' is not supported"),
    ({"overall_quantize_config": {"per_channel": True}}, "per_channel = True is not supported"),
    ({"overall_quantize_config": {"bit_width": 3}}, "from 4 to 16"),
    ({"layer_quantize_config": [{"quantizable": False}]}, "needs layer_type or layer_name"),
    ({"tensor_quantize_config": {"weight": {}}}, "unknown key\\(s\\) \\['weight'\\]"),
])
def test_config_file_errors(cfg, message, zoo, tmp_path):
    model, shape = zoo("ffn")
    p = tmp_path / "c.json"
    p.write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match=message):
        torch_quantizer("calib", model, (torch.randn(*shape),), quant_config_file=str(p))


def test_config_file_sets_method_and_bits(zoo, tmp_path):
    model, shape = zoo("tiny_resnet")
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"overall_quantize_config": {"bit_width": 6, "method": "maxmin"},
                             "tensor_quantize_config": {"input": {"bit_width": 8}}}))
    q = quantize_roundtrip(model, shape, tmp_path, quant_config_file=str(p))
    assert q.table.bw("x") == 8 and q.table.bw("linear") == 6
    assert q.config.method == "maxmin"


def test_state_dict_file_and_target(zoo, tmp_path):
    model, shape = zoo("ffn")
    ck = tmp_path / "w.pth"
    torch.save(model.state_dict(), ck)
    q = torch_quantizer("calib", model, (torch.randn(*shape),), state_dict_file=str(ck), target="DPUCZDX8G/KV260")
    assert q.target.name == "DPUCZDX8G_ISA1_B4096"
    with pytest.raises(VaiqError, match="unknown target"):
        torch_quantizer("calib", model, (torch.randn(*shape),), target="DPUCZDX8G/NOPE")
    with pytest.raises(VaiqError, match="no such state_dict file"):
        torch_quantizer("calib", model, (torch.randn(*shape),), state_dict_file=str(tmp_path / "none.pth"))
    torch.save({"bogus": torch.zeros(1)}, ck)
    with pytest.raises(VaiqError, match="does not match the model"):
        torch_quantizer("calib", model, (torch.randn(*shape),), state_dict_file=str(ck))


def test_capture_error_names_the_construct():
    class Branchy(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x * 2
            return x

    with pytest.raises(CaptureError, match="torch.export could not capture Branchy"):
        torch_quantizer("calib", Branchy(), (torch.randn(1, 4),))


def test_unmapped_ops_stay_float_and_are_reported(tmp_path):
    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)

        def forward(self, x):
            return torch.cumsum(self.fc(x), dim=1)

    q = quantize_roundtrip(Odd(), (1, 4), tmp_path)
    node = next(n for n in q.graph.nodes if n.kind == "torch")
    assert node.quant == "float" and "cumsum" in node.reason
    with torch.no_grad():
        y = q.quant_model(torch.ones(2, 4))
    assert y.shape == (2, 4)
    with pytest.raises(VaiqError, match="has no XIR equivalent"):
        q.export_xmodel()


def test_batchnorm_is_folded_and_standalone_bn_becomes_depthwise(tmp_path):
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Conv2d(3, 4, 3)
            self.bn = torch.nn.BatchNorm2d(4)
            self.bn2 = torch.nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.bn(self.c(x))
            return self.bn2(torch.relu(y))

    m = M()
    with torch.no_grad():
        for bn in (m.bn, m.bn2):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
    m.eval()
    q = torch_quantizer("float", m, (torch.randn(1, 3, 8, 8),))
    kinds = [n.kind for n in q.graph.nodes]
    assert "batchnorm" not in kinds
    conv = q.graph.nodes[1]
    assert conv.attrs.get("folded_bn") == "bn" and conv.act == "relu"
    assert q.graph.nodes[-1].attrs.get("from_bn") and q.graph.nodes[-1].attrs["groups"] == 4
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(q.quant_model(x), m(x), atol=1e-5)
