"""The FFN tutorial scripts: reproducible data generation, training and evaluation."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ffn"


def _load(name, filename):
    spec = importlib.util.spec_from_file_location(name, EXAMPLE / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def scripts(monkeypatch):
    """(generate_data, run) modules; the example's `model` module is visible only during the test,
    and the torch thread count that run.py lowers to 1 is restored afterwards."""
    monkeypatch.setitem(sys.modules, "model", _load("model", "model.py"))
    threads = torch.get_num_threads()
    yield _load("ffn_generate_data", "generate_data.py"), _load("ffn_run", "run.py")
    torch.set_num_threads(threads)


def _invoke(command, args):
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_generate_data_is_seeded(scripts, tmp_path):
    gen, _ = scripts
    for name, seed in (("a", 42), ("b", 42), ("c", 7)):
        _invoke(gen.main, ["--n_samples", "500", "--output_dir", str(tmp_path / name), "--seed", str(seed)])
    loaded = {n: {s: np.load(tmp_path / n / f"{s}.npz") for s in ("train", "test")} for n in "abc"}
    assert loaded["a"]["train"]["x"].shape == (400, 2) and loaded["a"]["test"]["y"].shape == (100, 1)
    assert loaded["a"]["train"]["x"].dtype == np.float32
    for split in ("train", "test"):
        for key in ("x", "y"):
            np.testing.assert_array_equal(loaded["a"][split][key], loaded["b"][split][key])
    assert not np.array_equal(loaded["a"]["train"]["x"], loaded["c"]["train"]["x"])


def test_train_is_reproducible_and_learns(scripts, tmp_path):
    gen, run = scripts
    data = tmp_path / "data"
    _invoke(gen.main, ["--n_samples", "2000", "--output_dir", str(data), "--seed", "42"])
    states = []
    for name, seed in (("one.pth", 42), ("two.pth", 42), ("three.pth", 3)):
        ckpt = tmp_path / name
        out = _invoke(run.main, ["--train", "--evaluate", "--data_dir", str(data), "--epochs", "5",
                                 "--checkpoint", str(ckpt), "--seed", str(seed)])
        assert "test MSE" in out
        states.append(torch.load(ckpt, weights_only=True))
    first, second, other = states
    assert first.keys() == second.keys() == {f"fc{i}.{p}" for i in (1, 2, 3) for p in ("weight", "bias")}
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)

    x, y = run.load_split(data, "test")
    test_mse = run.mse(run.load_model(tmp_path / "one.pth"), x, y)
    assert f"test MSE {test_mse:.6f}" in _invoke(
        run.main, ["--evaluate", "--data_dir", str(data), "--checkpoint", str(tmp_path / "one.pth")]
    )
    assert test_mse < 0.5 * float(y.var())


def test_run_needs_an_action(scripts):
    _, run = scripts
    result = CliRunner().invoke(run.main, [])
    assert result.exit_code == 2 and "--train" in result.output
