"""Cross-layer equalization: which pairs, float function preserved, ranges equalized, quant_info
round trip, test mode re-applies it, bit-exact through vaic + vairun."""
import json

import pytest
import torch
from torch import nn

from vaiq import QuantInfoError, torch_quantizer
from vaiq.cle import apply_cle, equalize_pair, find_pairs
from vaiq.qmodule import QuantModule

from flow import assert_emulator_equals, quantize_roundtrip


class Chain(nn.Module):
    """conv-ReLU -> max-pool -> grouped conv-LeakyReLU -> depthwise conv -> ReLU6 conv -> dense pair."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.c3 = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.c4 = nn.Conv2d(8, 4, 1)
        self.c5 = nn.Conv2d(4, 4, 1)
        self.f1 = nn.Linear(4 * 4 * 4, 16)
        self.f2 = nn.Linear(16, 5)
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.3
                                   * torch.logspace(-1, 1, m.weight.shape[0]).reshape(-1, *[1] * (m.weight.dim() - 1)))
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)
        x = nn.functional.leaky_relu(self.c2(x), 0.1)
        x = self.c3(x)
        x = torch.relu(self.c5(torch.clamp(self.c4(x), 0, 6)))
        return self.f2(torch.relu(self.f1(x.flatten(1))))


def _module(model, shape):
    q = torch_quantizer("float", model, (torch.zeros(shape),))
    return q, QuantModule(q.graph, "calib")


def test_pairs_follow_the_homogeneity_rule():
    q, qm = _module(Chain().eval(), (1, 3, 8, 8))
    scopes = [(q.graph.node(a).scope, q.graph.node(b).scope) for a, b in find_pairs(q.graph)]
    # c1 -> (relu, maxpool) -> c2; c2 -> (leaky) -> c3; c3 -> c4; not c4 -> c5 (ReLU6), not c5 -> f1 (flatten)
    assert scopes == [("c1", "c2"), ("c2", "c3"), ("c3", "c4"), ("f1", "f2")]


def test_cle_keeps_the_float_function_and_equalizes_ranges():
    model = Chain().eval()
    q, qm = _module(model, (1, 3, 8, 8))
    x = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = qm(x)
    a, b = find_pairs(q.graph)[0]
    equalize_pair(qm, a, b)
    wa, wb = qm.params_of(a)["weight"], qm.params_of(b)["weight"]
    r1 = wa.abs().reshape(8, -1).amax(1)
    r2 = wb.reshape(2, 4, 4, -1).abs().amax(dim=(1, 3)).reshape(-1)   # groups=2: channel i feeds group i // 4
    assert torch.allclose(r1, r2, rtol=1e-5)
    apply_cle(qm)
    with torch.no_grad():
        after = qm(x)
    assert torch.allclose(before, after, rtol=1e-4, atol=1e-5)
    spread = lambda w: float(w.abs().reshape(w.shape[0], -1).amax(1).max() / w.abs().reshape(w.shape[0], -1).amax(1).min())
    assert spread(qm.params_of(a)["weight"]) < spread(model.c1.weight.detach()) / 4


def test_quant_info_records_pairs_and_test_mode_reapplies(tmp_path):
    model = Chain().eval()
    q = quantize_roundtrip(model, (1, 3, 8, 8), tmp_path)
    info = json.loads((tmp_path / "quant_info.json").read_text())
    assert [tuple(p) for p in info["cle"]] == find_pairs(q.graph) and len(info["cle"]) == 4
    calib = torch_quantizer("calib", model, (torch.zeros(1, 3, 8, 8),), output_dir=str(tmp_path / "c"))
    for n in q.graph.nodes:      # test mode's parameters are calibration's (CLE then bias correction)
        for k, v in q.quant_model.params_of(n.name).items():
            assert torch.equal(v, calib.quant_model.params_of(n.name)[k]) or k == "bias"
    q.load_quant_config()        # loading again starts from the float weights (not CLE twice)
    assert torch.equal(q.quant_model.params_of(find_pairs(q.graph)[0][0])["weight"],
                       calib.quant_model.params_of(find_pairs(q.graph)[0][0])["weight"])
    off = tmp_path / "off"
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"include_cle": False}))
    t = quantize_roundtrip(model, (1, 3, 8, 8), off, quant_config_file=str(cfg))
    assert json.loads((off / "quant_info.json").read_text())["cle"] == []
    assert torch.equal(t.quant_model.params_of(find_pairs(q.graph)[0][0])["weight"],
                       model.c1.weight.detach())


def test_recorded_pairs_of_another_model_are_refused(tmp_path):
    model = Chain().eval()
    quantize_roundtrip(model, (1, 3, 8, 8), tmp_path)
    p = tmp_path / "quant_info.json"
    info = json.loads(p.read_text())
    info["cle"] = info["cle"][:2]
    p.write_text(json.dumps(info))
    with pytest.raises(QuantInfoError, match="cross-layer equalization"):
        torch_quantizer("test", model, (torch.zeros(1, 3, 8, 8),), output_dir=str(tmp_path))


def test_cle_model_is_bitexact_through_vaic_and_vairun(tmp_path):
    model = Chain().eval()
    q = quantize_roundtrip(model, (1, 3, 8, 8), tmp_path / "q", batches=3, batch=8)
    assert json.loads((tmp_path / "q" / "quant_info.json").read_text())["cle"]
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(9))
    assert_emulator_equals(q, "DPUCZDX8G/KV260", tmp_path / "c", x)
