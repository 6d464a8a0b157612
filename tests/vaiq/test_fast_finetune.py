"""Fast finetune (AdaQuant, vaiq/finetune.py): nndct's calls, the gain on the trained digits CNN,
determinism, param.pth checks, the disk-backed cache and bit-exactness through vaic and vairun."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.utils.data import DataLoader, TensorDataset

from flow import assert_bitexact_with_deploy, assert_emulator_equals
from vaiq import finetune, torch_quantizer
from vaiq.cli import cli
from vaiq.finetune import FinetuneError, FtSettings
from vaiq.zoo import digits_cnn, load_digits_split, train_digits_cnn

QUICK = FtSettings(iters=3, steps=8, lr=1e-2)     # few steps: a larger learning rate


@pytest.fixture(scope="module")
def digits():
    model, _ = train_digits_cnn(seed=0, epochs=3)       # 96.7% top-1; enough to show the gain
    x_train, _, x_test, y_test = load_digits_split(0)
    return model, x_train, x_test, y_test


def evaluate(model, loader, loss_fn):
    """The shape of nndct's example evaluate(): accuracy and mean loss over a loader."""
    correct, loss, n = 0, 0.0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            loss += float(loss_fn(out, y)) * len(y)
            correct += int((out.argmax(1) == y).sum())
            n += len(y)
    return correct / n, loss / n


def sqnr_db(model, q, x):
    with torch.no_grad():
        f, y = model(x), q.quant_model(x)
    return float(10 * torch.log10((f ** 2).sum() / ((f - y) ** 2).sum()))


def calib_then_test(model, x_calib, example, out, ft=None):
    """nndct's two runs; with ``ft`` (settings) fast_finetune is called as nndct's examples do."""
    q = torch_quantizer("calib", model, (example,), output_dir=str(out))
    loader = DataLoader(TensorDataset(x_calib, torch.zeros(len(x_calib), dtype=torch.int64)), batch_size=32)
    if ft is not None:
        with pytest.MonkeyPatch.context() as mp:           # nndct's call exactly, quicker defaults
            mp.setattr(finetune, "FtSettings", lambda: ft)
            q.fast_finetune(evaluate, (q.quant_model, loader, torch.nn.CrossEntropyLoss()))
    else:
        evaluate(q.quant_model, loader, torch.nn.CrossEntropyLoss())
    q.export_quant_config()
    qt = torch_quantizer("test", model, (example,), output_dir=str(out))
    if ft is not None:
        qt.load_ft_param()
    return q, qt


@pytest.fixture(scope="module")
def tuned(digits, tmp_path_factory):
    model, x_train, _, _ = digits
    base = tmp_path_factory.mktemp("ptq")
    ft = tmp_path_factory.mktemp("ft")
    ptq = calib_then_test(model, x_train[:128], x_train[:1], base)
    return ptq, calib_then_test(model, x_train[:128], x_train[:1], ft, QUICK), ft


def test_finetune_improves_digits(digits, tuned):
    model, _, x_test, y_test = digits
    (_, ptq), (q, ft), out = tuned
    r = q.ft_report
    assert [lr.name for lr in r.layers] == ["conv2d", "conv2d_1", "linear"]
    assert r.samples == 128 and not r.on_disk
    for a, b in zip(r.layers, r.layers[1:]):        # each layer starts where the previous one ended
        assert b.error_before == a.error_after
    assert all(lr.error_after <= lr.error_before for lr in r.layers)
    assert r.layers[-1].error_after < 0.8 * r.layers[0].error_before
    # held-out samples: better than default PTQ (which already has bias correction and CLE; fast finetune
    # replaces the bias correction)
    assert sqnr_db(model, ft, x_test) > sqnr_db(model, ptq, x_test)
    info = json.loads((out / "quant_info.json").read_text())
    assert info["fast_finetuned"] is True and not ptq.ft_expected and ft.ft_expected
    assert (out / "param.pth").is_file()
    assert not list(out.glob(".ft_cache-*"))


def test_finetuned_weights_reach_the_deploy_model(digits, tuned, tmp_path):
    _, x_train, x_test, _ = digits
    (_, ptq), (_, ft), out = tuned
    plain = torch_quantizer("test", digits[0], (x_train[:1],), output_dir=str(out))
    moved = [k for k, p in ft.quant_model.quantized_params().items()
             if not torch.equal(p["weight"], plain.quant_model.quantized_params()[k]["weight"])]
    assert moved                                        # the finetune changed on-grid weights
    assert_bitexact_with_deploy(ft, x_test[:16])
    assert_emulator_equals(ft, "DPUCZDX8G/KV260", tmp_path, x_test[:16])


def test_export_without_load_ft_param_warns(digits, tuned):
    (_, _), (_, _), out = tuned
    qt = torch_quantizer("test", digits[0], (digits[1][:1],), output_dir=str(out))
    assert qt.ft_expected
    with pytest.warns(UserWarning, match="load_ft_param"):
        qt.export_xmodel(output_dir=str(out / "plain"))


def test_deterministic(digits, tmp_path):
    model, x_train, _, _ = digits
    runs = []
    for k in range(2):
        q = torch_quantizer("calib", model, (x_train[:1],), output_dir=str(tmp_path / str(k)))
        q.fast_finetune(lambda m, x: m(x), (q.quant_model, x_train[:48]), settings=FtSettings(iters=2, steps=4))
        q.export_quant_config()
        runs.append(torch.load(tmp_path / str(k) / "param.pth", weights_only=True))
        assert runs[-1]["params"].keys() == {"conv2d", "conv2d_1", "linear"}
    a, b = runs
    for name in a["params"]:
        for key in a["params"][name]:
            assert torch.equal(a["params"][name][key], b["params"][name][key])
    assert (tmp_path / "0" / "quant_info.json").read_text() == (tmp_path / "1" / "quant_info.json").read_text()


def test_disk_cache_gives_the_same_result(digits, tmp_path, monkeypatch):
    model, x_train, _, _ = digits
    x = x_train[:48]
    cfg = FtSettings(iters=2, steps=4)
    q = torch_quantizer("calib", model, (x[:1],), output_dir=str(tmp_path / "ram"))
    ram = q.fast_finetune(lambda m: m(x), (q.quant_model,), settings=cfg)
    need = finetune.cache_bytes(q.graph, len(x))
    assert ram.cache_bytes == need and not ram.on_disk
    monkeypatch.setattr(finetune, "mem_available", lambda: need)          # half of it is the budget
    q2 = torch_quantizer("calib", model, (x[:1],), output_dir=str(tmp_path / "disk"))
    disk = q2.fast_finetune(lambda m: m(x), (q2.quant_model,), settings=cfg)
    assert disk.on_disk
    assert not list((tmp_path / "disk").glob(".ft_cache-*"))             # deleted afterwards
    assert [(r.error_before, r.error_after) for r in disk.layers] == \
        [(r.error_before, r.error_after) for r in ram.layers]
    for name in ("conv2d", "conv2d_1", "linear"):
        for k, v in q.quant_model.params_of(name).items():
            assert torch.equal(v, q2.quant_model.params_of(name)[k])


def test_not_enough_memory_stops_with_the_size(digits, tmp_path, monkeypatch):
    model, x_train, _, _ = digits
    x = x_train[:48]
    need = finetune.cache_bytes(torch_quantizer("float", model, (x[:1],)).graph, len(x))
    monkeypatch.setattr(finetune, "mem_available", lambda: need)
    monkeypatch.setattr(finetune.shutil, "disk_usage", lambda p: type("U", (), {"free": need // 2})())
    q = torch_quantizer("calib", model, (x[:1],), output_dir=str(tmp_path))
    with pytest.raises(FinetuneError, match=r"needs 0\.00 GiB .* feed fewer samples"):
        q.fast_finetune(lambda m: m(x), (q.quant_model,), settings=QUICK)
    monkeypatch.setattr(finetune, "mem_available", lambda: 1000)         # not even the inputs fit
    with pytest.raises(FinetuneError, match="exceeds"):
        q.fast_finetune(lambda m: m(x), (q.quant_model,), settings=QUICK)
    assert not (tmp_path / "param.pth").exists()


def test_no_data_is_a_clear_error(digits, tmp_path):
    q = torch_quantizer("calib", digits[0], (digits[1][:1],), output_dir=str(tmp_path))
    with pytest.raises(FinetuneError, match="run_fn fed no data"):
        q.fast_finetune(lambda: None, ())


def test_test_mode_is_a_noop_with_a_note(digits, tuned):
    (_, _), (_, _), out = tuned
    qt = torch_quantizer("test", digits[0], (digits[1][:1],), output_dir=str(out))
    before = {k: v.clone() for k, v in qt.quant_model.params_of("conv2d").items()}
    with pytest.warns(UserWarning, match="does nothing in quant_mode 'test'"):
        assert qt.fast_finetune(lambda: pytest.fail("run_fn must not run"), ()) is None
    assert all(torch.equal(v, qt.quant_model.params_of("conv2d")[k]) for k, v in before.items())


def test_load_ft_param_errors(digits, tuned, tmp_path):
    (_, _), (_, _), out = tuned
    example = digits[1][:1]
    empty = tmp_path / "empty"
    q = torch_quantizer("float", digits[0], (example,), output_dir=str(empty))
    with pytest.raises(FinetuneError, match="param.pth: no such file"):
        q.load_ft_param()

    other = torch_quantizer("float", digits_cnn(num_classes=5), (example,))   # same names, other shapes
    with pytest.raises(FinetuneError, match="made for another model"):
        other.load_ft_param(out / "param.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(FinetuneError, match="cannot read it"):
        q.load_ft_param(bad)


def test_cli_fast_finetune(tmp_path, monkeypatch):
    monkeypatch.setattr(finetune, "FtSettings", lambda: FtSettings(iters=2, steps=4))   # the flags, quickly
    x = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(3)).numpy()
    np.save(tmp_path / "calib.npy", x)
    out = tmp_path / "q"
    args = ["quantize", "--model", "zoo:digits_cnn", "--calib-data", tmp_path / "calib.npy", "--output", out,
            "--fast-finetune", "--ft-size", "24", "--batch-size", "8", "--no-onnx", "--no-torchscript"]
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert "fast finetune on 24 sample(s)" in r.stdout
    assert json.loads((out / "quant_info.json").read_text())["fast_finetuned"] is True
    assert (out / "param.pth").is_file() and not list(out.glob(".ft_cache-*"))
    t = CliRunner().invoke(cli, ["test", "--model", "zoo:digits_cnn", "--output", str(out), "--no-onnx",
                                 "--no-torchscript"])
    assert t.exit_code == 0, (t.stdout, t.stderr)
    assert "load_ft_param" not in t.stderr                    # test loaded param.pth itself
    bad = CliRunner().invoke(cli, [str(a) for a in args] + ["--ft-size", "0"])
    assert bad.exit_code == 2 and "--ft-size" in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tiny_resnet", "tiny_mobilenet_v3"])
def test_zoo_model_finetuned_stays_bitexact(name, zoo, tmp_path):
    """Residual adds, hard-swish and squeeze-excite: finetuning keeps every DPU constraint and the
    compiled model equals test mode on the emulator."""
    model, shape = zoo(name)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, *shape[1:], generator=gen)
    q = torch_quantizer("calib", model, (x[:1],), output_dir=str(tmp_path))
    r = q.fast_finetune(lambda m: [m(x[i:i + 16]) for i in range(0, 64, 16)], (q.quant_model,), settings=QUICK)
    assert r.layers and r.layers[-1].error_after <= r.layers[0].error_before
    q.export_quant_config()
    qt = torch_quantizer("test", model, (x[:1],), output_dir=str(tmp_path))
    qt.load_ft_param()
    assert qt.table.violations() == []
    assert_emulator_equals(qt, "DPUCZDX8G/KV260", tmp_path / "c", x[:4])
