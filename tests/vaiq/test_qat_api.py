"""QatProcessor's API: call-order messages, reused modules, calib_dir, nndct's functional modules,
the QAT parameter file, exports, and two QATs running at once in one working directory."""
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from flow import quantize_roundtrip
from vaiq import QatError, QatProcessor, QuantInfoError, VaiqError, torch_quantizer
from vaiq.nn.modules import functional
from vaiq.zoo import MODELS, get_model


class Reuses(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.conv1(x))))


class Functional(nn.Module):
    """Written for the original: element-wise ops and concat as functional modules."""

    def __init__(self, inline=False):
        super().__init__()
        torch.manual_seed(0)
        self.inline = inline
        self.a = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.b = nn.Sequential(nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.add, self.cat = functional.Add(), functional.Cat()
        self.head = nn.Conv2d(16, 4, 1)

    def forward(self, x):
        a, b = self.a(x), self.b(x)
        if self.inline:
            return self.head(torch.cat([a + b, b], 1))
        return self.head(self.cat([self.add(a, b), b], dim=1))


def _warm(qm, shape, n=1):
    qm.train()
    with torch.no_grad():
        for _ in range(n):
            qm(torch.randn(4, *shape[1:]))


def test_calls_out_of_order_name_the_missing_call(tmp_path):
    model, shape = get_model("digits_cnn"), MODELS["digits_cnn"].input_shape
    qat = QatProcessor(model, (torch.randn(*shape),))
    with pytest.raises(QatError, match=r"to_deployable\(qmodel"):
        qat.export_xmodel(str(tmp_path / "nothing"))
    with pytest.raises(QatError, match=r"to_deployable\(qmodel"):
        qat.deployable_model(str(tmp_path / "nothing"))
    qm = qat.trainable_model()
    with pytest.raises(QatError, match="forward pass"):
        qm.freeze_quant()
    with pytest.raises(QatError, match="forward pass"):
        qat.to_deployable(qm, str(tmp_path / "r"))
    assert not (tmp_path / "r").exists()                      # nothing half-written
    qm.disable_warmup()                                       # no data seen: thresholds still unset
    with pytest.raises(QatError, match="enable_warmup"):
        qm(torch.randn(2, *shape[1:]))
    with pytest.raises(QatError, match="trainable_model"):
        qat.to_deployable(model, str(tmp_path / "r"))
    qm.enable_warmup()
    _warm(qm, shape)
    qm.freeze_quant()
    with pytest.raises(QatError, match="frozen"):
        qm.enable_warmup()
    with pytest.raises(VaiqError, match="mix_bit"):
        QatProcessor(model, (torch.randn(*shape),), mix_bit=True)


def test_correct_sequences_in_any_order(tmp_path):
    """to_deployable freezes by itself; exports work right after it or in a later run from the folder."""
    model, shape = get_model("tiny_resnet"), MODELS["tiny_resnet"].input_shape
    x = torch.randn(2, *shape[1:], generator=torch.Generator().manual_seed(1))
    qat = QatProcessor(model, (torch.randn(*shape),), bitwidth=8)
    qm = qat.trainable_model()
    qm.eval()                                   # warm-up in eval mode works as well
    qm(torch.randn(4, *shape[1:]))
    out = tmp_path / "qat_result"
    with torch.no_grad():
        y = qat.to_deployable(qm, str(out))(x)
    assert qm.frozen
    assert qat.export_xmodel(str(out)).exists()
    assert qat.export_onnx_model(str(out)).exists()
    ts = torch.jit.load(str(qat.export_torch_script(str(out))))
    with torch.no_grad():
        assert torch.equal(ts(x), y)
    later = QatProcessor(model, (torch.randn(*shape),), bitwidth=8)     # a later run
    with torch.no_grad():
        assert torch.equal(later.deployable_model(str(out), used_for_xmodel=True)(x), y)
    assert later.export_xmodel(str(out)).exists()


def test_reused_module_is_an_error_naming_it_unless_allowed(tmp_path):
    model, x = Reuses(), torch.randn(1, 3, 8, 8)
    qat = QatProcessor(model, (x,))
    with pytest.raises(QatError, match="'relu' is called 2 times"):
        qat.trainable_model()
    with pytest.warns(UserWarning, match="relu"):
        qm = qat.trainable_model(allow_reused_module=True)
    _warm(qm, x.shape)
    with torch.no_grad():
        qm.eval()
        qm.freeze_quant()
        xb = torch.randn(3, 3, 8, 8)
        assert torch.equal(qm(xb), qat.to_deployable(qm, str(tmp_path / "r"))(xb))


def test_calib_dir_starts_from_the_ptq_positions(tmp_path):
    model, shape = get_model("tiny_mobilenet"), MODELS["tiny_mobilenet"].input_shape
    q = quantize_roundtrip(model, shape, tmp_path / "ptq")
    qat = QatProcessor(model, (torch.randn(*shape),))
    qm = qat.trainable_model(calib_dir=str(tmp_path / "ptq"))
    table = qm.position_table()                     # no warm-up needed
    assert {r: table.get(r) for r in q.table.owners()} == {r: q.table.get(r) for r in q.table.owners()}
    assert table.param_pos == q.table.param_pos


def test_functional_modules_capture_like_inline_code(tmp_path):
    x = torch.randn(1, 3, 8, 8)
    kinds = []
    for inline in (False, True):
        qat = QatProcessor(Functional(inline).eval(), (x,))
        qm = qat.trainable_model()
        kinds.append([n.kind for n in qm.graph.nodes])
        _warm(qm, x.shape, 2)
        qm.eval()
        qm.freeze_quant()
        with torch.no_grad():
            xb = torch.randn(3, 3, 8, 8)
            assert torch.equal(qm(xb), qat.to_deployable(qm, str(tmp_path / f"r{inline}"))(xb))
    assert kinds[0] == kinds[1] and "add" in kinds[0] and "concat" in kinds[0]
    assert torch.equal(functional.Sub()(x, x), torch.zeros_like(x))
    assert torch.equal(functional.Mul()(x, x), x * x)


def test_param_file_of_another_model_is_refused(tmp_path):
    a, b = get_model("tiny_resnet"), get_model("tiny_mobilenet")
    shape = MODELS["tiny_resnet"].input_shape
    qat = QatProcessor(a, (torch.randn(*shape),))
    qm = qat.trainable_model()
    _warm(qm, shape)
    out = tmp_path / "r"
    qat.to_deployable(qm, str(out))
    with pytest.raises(QuantInfoError):
        torch_quantizer("test", b, (torch.randn(*shape),), output_dir=str(out))
    (out / "qat_param.pth").write_bytes(b"not a torch file")
    with pytest.raises(QuantInfoError, match="qat_param.pth"):
        torch_quantizer("test", a, (torch.randn(*shape),), output_dir=str(out))


def test_keep_bn_folds_to_the_graph_ptq_folds():
    """prepare(keep_bn=True) + fold_kept_batchnorm == prepare(): same fingerprint, same tensor bits."""
    import copy

    from vaiq.capture import capture
    from vaiq.prepare import fold_kept_batchnorm, prepare
    from flow import randomize_bn
    for name in ("tiny_mobilenet", "leaky_net", "tiny_resnet"):
        model, shape = randomize_bn(get_model(name)), MODELS[name].input_shape
        g = capture(model, (torch.randn(*shape),))
        plain, kept = prepare(copy.deepcopy(g)), prepare(copy.deepcopy(g), keep_bn=True)
        assert any("bn_eps" in n.attrs for n in kept.nodes)
        fold_kept_batchnorm(kept)
        assert kept.md5() == plain.md5()
        for n, m in zip(plain.nodes, kept.nodes):
            assert set(n.params) == set(m.params) and all(torch.equal(n.params[k], m.params[k]) for k in n.params)


CHILD = textwrap.dedent("""
    import sys, hashlib, warnings, torch
    warnings.filterwarnings("ignore")
    from vaiq import QatProcessor, torch_quantizer
    from vaiq.zoo import get_model, MODELS
    name, bits, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    model, shape = get_model(name), MODELS[name].input_shape
    g = torch.Generator().manual_seed(bits)
    qat = QatProcessor(model, (torch.randn(*shape, generator=g),), bitwidth=bits)
    qm = qat.trainable_model()
    opt = torch.optim.Adam(qm.parameters(), lr=1e-3)
    qm.train()
    for _ in range(4):
        loss = qm(torch.randn(8, *shape[1:], generator=g)).square().mean()
        opt.zero_grad(); loss.backward(); opt.step()
    x = torch.randn(3, *shape[1:], generator=g)
    with torch.no_grad():
        y = qat.to_deployable(qm, out)(x)
        z = torch_quantizer("test", model, (x[:1],), output_dir=out).quant_model(x)
    assert torch.equal(y, z)
    qat.export_xmodel(out)
    print(hashlib.md5(y.numpy().tobytes()).hexdigest())
""")


def test_two_qats_in_parallel_in_one_working_directory(tmp_path):
    (tmp_path / "child.py").write_text(CHILD)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    jobs = [("digits_cnn", "8", "qat_a"), ("digits_cnn", "4", "qat_b")]
    procs = [subprocess.Popen([sys.executable, "child.py", *j], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for j in jobs]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (so, se) in zip(procs, outs):
        assert p.returncode == 0, se[-2000:]
    assert sorted(os.listdir(tmp_path)) == ["child.py", "qat_a", "qat_b"]     # nothing in a shared place
    infos = [json.loads((tmp_path / d / "quant_info.json").read_text()) for _, _, d in jobs]
    assert {e[0][0] for e in infos[0]["output"].values()} == {8}
    assert {e[0][0] for e in infos[1]["output"].values()} == {4}
    # each folder's deployable model reproduces what its own process computed
    for (name, bits, d), (so, _) in zip(jobs, outs):
        g = torch.Generator().manual_seed(int(bits))
        shape = MODELS[name].input_shape
        x0 = torch.randn(*shape, generator=g)
        for _ in range(4):
            torch.randn(8, *shape[1:], generator=g)
        x = torch.randn(3, *shape[1:], generator=g)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = torch_quantizer("test", get_model(name), (x0,), output_dir=str(tmp_path / d))
        with torch.no_grad():
            y = q.quant_model(x)
        assert hashlib.md5(y.numpy().tobytes()).hexdigest() == so.strip().splitlines()[-1]
        assert any(Path(tmp_path / d).glob("*.xmodel"))


def test_ptq_calibration_into_a_qat_folder_ignores_the_stale_param_file(tmp_path):
    model, shape = get_model("digits_cnn"), MODELS["digits_cnn"].input_shape
    qat = QatProcessor(model, (torch.randn(*shape),))
    qm = qat.trainable_model()
    _warm(qm, shape)
    with torch.no_grad():
        for p in qm.non_quantizer_parameters():
            p.mul_(1.5)                                       # "trained" tensors that differ from the model's
    qat.to_deployable(qm, str(tmp_path))
    assert json.loads((tmp_path / "quant_info.json").read_text())["qat_param"] == "qat_param.pth"
    conv = next(n.name for n in qm.deploy_graph.nodes if n.kind == "conv2d")

    plain = tmp_path.parent / f"{tmp_path.name}_plain.json"   # PTQ without CLE / bias correction: own tensors
    plain.write_text(json.dumps({"include_cle": False, "include_bias_corr": False}))

    def test_mode_weight():
        q = torch_quantizer("test", model, (torch.randn(*shape),), output_dir=str(tmp_path),
                            quant_config_file=str(plain))
        return q.quant_model.params_of(conv)["weight"], q.graph.node(conv).params["weight"].float()
    loaded, own = test_mode_weight()
    assert not torch.equal(loaded, own)                       # the QAT tensors
    quantize_roundtrip(model, shape, tmp_path, quant_config_file=str(plain))   # PTQ over the same folder
    loaded, own = test_mode_weight()
    assert torch.equal(loaded, own)                           # the model's own tensors again
    (tmp_path / "quant_info.json").write_text(json.dumps({**json.loads((tmp_path / "quant_info.json").read_text()),
                                                          "qat_param": "qat_param.pth"}))
    (tmp_path / "qat_param.pth").unlink()
    with pytest.raises(QuantInfoError, match="missing"):
        torch_quantizer("test", model, (torch.randn(*shape),), output_dir=str(tmp_path))


def test_a_saved_trainable_model_resumes_without_a_second_warm_up():
    model, shape = get_model("tiny_resnet"), MODELS["tiny_resnet"].input_shape
    qat = QatProcessor(model, (torch.randn(*shape),))
    first = qat.trainable_model()
    _warm(first, shape)
    with torch.no_grad():
        for t in first.quantizer_parameters():
            t.add_(0.3)                                      # thresholds a warm-up would not give
    second = qat.trainable_model()
    second.load_state_dict(first.state_dict())
    x = torch.randn(2, *shape[1:])
    first.eval()
    second.eval()
    with torch.no_grad():
        assert torch.equal(first(x), second(x))             # no warm-up pass: the loaded thresholds run
    assert first.freeze_quant().pos == second.freeze_quant().pos
