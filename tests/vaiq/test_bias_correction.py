"""Bias correction: moves the quantized layer means toward float, bias_corr.pth + bias_corrected
round trip, test mode applies it (and refuses a missing or foreign file), bit-exact through vaic + vairun."""
import json
import shutil

import pytest
import torch
from torch import nn

from vaiq import QuantInfoError, torch_quantizer
from vaiq import bias_corr

from flow import assert_emulator_equals, quantize_roundtrip


class Net(nn.Module):
    """Small conv net whose 4-bit weights shift its channel means visibly."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 8 * 8, 10)
        gen = torch.Generator().manual_seed(2)
        with torch.no_grad():
            for m in (self.c1, self.c2, self.fc):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.2 + 0.03)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)

    def forward(self, x):
        return self.fc(torch.relu(self.c2(torch.relu(self.c1(x)))).flatten(1))


def _config(tmp_path, name, **switches):
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps({"include_cle": False, **switches,
                             "tensor_quantize_config": {"weights": {"bit_width": 4}}}))
    return str(p)


def _calibrate(model, x, out, cfg):
    q = torch_quantizer("calib", model, (x[:1],), output_dir=str(out), quant_config_file=cfg)
    with torch.no_grad():
        for i in range(0, len(x), 16):
            q.quant_model(x[i:i + 16])
    q.export_quant_config()
    return torch_quantizer("test", model, (x[:1],), output_dir=str(out), quant_config_file=cfg)


def test_correction_moves_output_means_toward_float(tmp_path):
    model = Net().eval()
    x = torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(x)
        plain = _calibrate(model, x, tmp_path / "off", _config(tmp_path, "off", include_bias_corr=False)).quant_model(x)
        corr = _calibrate(model, x, tmp_path / "on", _config(tmp_path, "on", include_bias_corr=True)).quant_model(x)
    err_plain = (plain.mean(0) - ref.mean(0)).abs()
    err_corr = (corr.mean(0) - ref.mean(0)).abs()
    assert float(err_corr.sum()) < 0.5 * float(err_plain.sum()), (err_plain, err_corr)
    assert float(((corr - ref) ** 2).mean()) < float(((plain - ref) ** 2).mean())


def test_files_flag_and_test_mode_application(tmp_path):
    model = Net().eval()
    x = torch.rand(32, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    t = _calibrate(model, x, tmp_path / "q", _config(tmp_path, "on"))
    info = json.loads((tmp_path / "q" / "quant_info.json").read_text())
    assert info["bias_corrected"] is True
    corr = torch.load(tmp_path / "q" / bias_corr.FILE, weights_only=True)
    assert sorted(corr) == ["Net::c1.bias", "Net::c2.bias", "Net::fc.bias"]
    for name, mod in (("c1", model.c1), ("c2", model.c2), ("fc", model.fc)):
        node = next(n for n in t.graph.nodes if n.scope == name)
        got = t.quant_model.params_of(node.name)["bias"]
        assert torch.equal(got, mod.bias.detach() + corr[f"Net::{name}.bias"])   # the float32 addition again
        assert not torch.equal(got, mod.bias.detach())
    t.load_quant_config()         # loading twice does not add the corrections twice
    assert torch.equal(t.quant_model.params_of(next(n for n in t.graph.nodes if n.scope == "fc").name)["bias"],
                       model.fc.bias.detach() + corr["Net::fc.bias"])


def test_missing_or_foreign_correction_file_is_refused(tmp_path):
    model = Net().eval()
    x = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    cfg = _config(tmp_path, "on")
    _calibrate(model, x, tmp_path / "q", cfg)
    (tmp_path / "q" / bias_corr.FILE).unlink()
    with pytest.raises(QuantInfoError, match="bias_corrected: true"):
        torch_quantizer("test", model, (x[:1],), output_dir=str(tmp_path / "q"), quant_config_file=cfg)
    torch.save({"Other::fc.bias": torch.zeros(10)}, tmp_path / "q" / bias_corr.FILE)
    with pytest.raises(QuantInfoError, match="another model"):
        torch_quantizer("test", model, (x[:1],), output_dir=str(tmp_path / "q"), quant_config_file=cfg)
    torch.save({"Net::fc.bias": torch.zeros(3)}, tmp_path / "q" / bias_corr.FILE)
    with pytest.raises(QuantInfoError, match="shape"):
        torch_quantizer("test", model, (x[:1],), output_dir=str(tmp_path / "q"), quant_config_file=cfg)


def test_exports_carry_the_corrected_biases_bit_exact_through_vaic_and_vairun(tmp_path):
    model = Net().eval()
    q = quantize_roundtrip(model, (1, 3, 8, 8), tmp_path / "q", batches=3, batch=8)
    assert json.loads((tmp_path / "q" / "quant_info.json").read_text())["bias_corrected"] is True
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    assert_emulator_equals(q, "DPUCZDX8G/KV260", tmp_path / "c", x)
    shutil.rmtree(tmp_path / "c")
