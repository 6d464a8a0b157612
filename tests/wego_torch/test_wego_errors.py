"""Bad input is one clear WegoError line: missing or empty quantization result, a result made for
another model, a model that does not export, an unknown target, a wrong input at call time, bad
options, a file that is not a saved module."""
import pytest
import torch
from torch import nn

import wego_torch
from vaiq.zoo import get_model

from wego_models import compile_opts, inputs

SHAPE = (1, 3, 16, 16)


def one_line(e) -> str:
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_missing_and_empty_quant_result(two_regions, tmp_path):
    model = two_regions[0]
    with pytest.raises(wego_torch.WegoError, match="does not exist") as e:
        wego_torch.compile(model, compile_opts(tmp_path / "nope", tmp_path / "c"))
    one_line(e)
    (tmp_path / "empty").mkdir()
    with pytest.raises(wego_torch.WegoError, match="is empty") as e:
        wego_torch.compile(model, compile_opts(tmp_path / "empty", tmp_path / "c"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(wego_torch.WegoError, match="no quant_info.json"):
        wego_torch.compile(model, compile_opts(tmp_path / "other", tmp_path / "c"))


def test_quant_result_of_another_model(two_regions, quantized, tmp_path):
    _, folder, _ = two_regions
    other = get_model("tiny_resnet")
    wm = wego_torch.compile(other, compile_opts(folder, tmp_path / "c"))
    with pytest.raises(wego_torch.WegoError, match="does not belong to this model") as e:
        wm(torch.randn(1, 3, 32, 32))
    one_line(e)
    # same node names, other parameter shapes: caught by the recorded graph digest, or first by the
    # bias corrections' shapes (bias_corr.pth, written by default)
    q, _ = quantized("ffn")
    wider = get_model("ffn", num_classes=3)
    with pytest.raises(wego_torch.WegoError, match="made for another model|belongs to another model"):
        wego_torch.compile(wider, compile_opts(q.output_dir, tmp_path / "c",
                                               inputs_meta=[wego_torch.InputMeta(torch.float, [1, 2])]))


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        if x.sum() > 0:          # data-dependent control flow: torch.export refuses it
            return self.c(x)
        return -self.c(x)


def test_model_that_does_not_export(two_regions, tmp_path):
    _, folder, _ = two_regions
    with pytest.raises(wego_torch.WegoError, match="does not export") as e:
        wego_torch.compile(DataDependent(), compile_opts(folder, tmp_path / "c",
                                                         inputs_meta=[wego_torch.InputMeta(torch.float, list(SHAPE))]))
    assert "DataDependent" in one_line(e)


def test_unknown_target(two_regions, tmp_path, monkeypatch):
    model, folder, _ = two_regions
    with pytest.raises(wego_torch.WegoError, match="unknown or unusable target") as e:
        wego_torch.compile(model, compile_opts(folder, tmp_path / "c", target="DPUCZDX8G/NoSuchBoard"))
    one_line(e)
    monkeypatch.setenv("WEGO_TARGET", "NoSuchDPU")
    with pytest.raises(wego_torch.WegoError, match="unknown or unusable target"):
        wego_torch.get_target_info()
    monkeypatch.setenv("WEGO_TARGET", "DPUCADF8H/U250")
    info = wego_torch.get_target_info()
    assert info["board"] == "U250" and info["fingerprint"].startswith("0x") and info["batch"] >= 1


def test_wrong_input_at_call_time(two_regions, cache_dir):
    model, folder, _ = two_regions
    wm = wego_torch.compile(model, compile_opts(folder, cache_dir))
    wm(inputs(SHAPE, 1))
    with pytest.raises(wego_torch.WegoError, match=r"has shape \(2, 3, 8, 8\); the model takes \[batch, 3, 16, 16\]") as e:
        wm(torch.randn(2, 3, 8, 8))
    one_line(e)
    with pytest.raises(wego_torch.WegoError, match="must be a torch.Tensor"):
        wm([[1.0]])
    with pytest.raises(wego_torch.WegoError, match="takes 1 input"):
        wm(inputs(SHAPE, 1), inputs(SHAPE, 1))


def test_bad_options_and_files(two_regions, tmp_path):
    model, folder, _ = two_regions
    with pytest.raises(wego_torch.WegoError, match="InputMeta shape"):
        wego_torch.InputMeta(torch.float, [1, -3])
    with pytest.raises(wego_torch.WegoError, match="must be a wego_torch.CompileOptions"):
        wego_torch.compile(model, {"dynamo": True})
    with pytest.raises(wego_torch.WegoError, match="wego_subgraph_min_ops_number"):
        wego_torch.PartitionOptions(wego_subgraph_min_ops_number=-1)
    with pytest.raises(wego_torch.WegoError, match="must be a torch.nn.Module"):
        wego_torch.compile("model.pt", compile_opts(folder, tmp_path / "c"))
    (tmp_path / "junk.wego").write_bytes(b"not a zip")
    with pytest.raises(wego_torch.WegoError, match="not a file written by WegoModule.save"):
        wego_torch.load(tmp_path / "junk.wego")
    with pytest.raises(wego_torch.WegoError, match="no such file"):
        wego_torch.load(tmp_path / "missing.wego")
    wm = wego_torch.compile(model, compile_opts(folder, tmp_path / "c"))
    with pytest.raises(wego_torch.WegoError, match="before save"):
        wm.save(tmp_path / "m.wego")
    assert not (tmp_path / "m.wego").exists()
