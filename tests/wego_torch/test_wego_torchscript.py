"""WeGO 1.x mode (quantized TorchScript + inputs_meta) and wego_torch.quantize."""
import pytest
import torch

import wego_torch
from vaiq import torch_quantizer

from wego_models import TwoRegions, inputs

SHAPE = (1, 3, 16, 16)


def test_torchscript_mode_equals_quant_model(two_regions, cache_dir):
    model, folder, q = two_regions
    ts = torch.jit.load(str(q.export_torch_script(folder / "ts")))
    opts = wego_torch.CompileOptions(inputs_meta=[wego_torch.InputMeta(torch.float, list(SHAPE))],
                                     accuracy_mode=wego_torch.AccuracyMode.ReserveReduantFixNeurons,
                                     optimize_options=wego_torch.OptimizeOptions(fold_bn=True),
                                     cache_dir=str(cache_dir), verbose=False)
    wm = wego_torch.compile(ts, opts)
    assert len(wm.summary()["dpu_subgraphs"]) >= 2
    for b in (1, 3):
        x = inputs(SHAPE, b)
        assert torch.equal(wm(x), q.quant_model(x))


def test_torchscript_mode_bad_input(two_regions, cache_dir):
    model, folder, q = two_regions
    opts = wego_torch.CompileOptions(inputs_meta=[wego_torch.InputMeta(torch.float, list(SHAPE))],
                                     cache_dir=str(cache_dir), verbose=False)
    with pytest.raises(wego_torch.WegoError, match="use dynamo=True"):
        wego_torch.compile(model, opts)
    plain = torch.jit.trace(model, torch.zeros(SHAPE))
    with pytest.raises(wego_torch.WegoError, match="not written by vaiq's export_torch_script"):
        wego_torch.compile(plain, opts)
    ts = torch.jit.load(str(q.export_torch_script(folder / "ts2")))
    with pytest.raises(wego_torch.WegoError, match="needs inputs_meta"):
        wego_torch.compile(ts, wego_torch.CompileOptions(cache_dir=str(cache_dir)))


def test_quantize_on_the_fly_then_compile(tmp_path, cache_dir):
    model = TwoRegions(seed=3).eval()
    data = [inputs(SHAPE, 4, seed=k) for k in range(3)]

    def calibrator(quant_model, loader):
        for x in loader:
            quant_model(x)
    ts = wego_torch.quantize(model, [list(SHAPE)], data, calibrator, export_dataloader=data[:1],
                             output_dir=str(tmp_path / "qr"))
    assert isinstance(ts, torch.jit.ScriptModule)
    assert (tmp_path / "qr" / "quant_info.json").exists()
    assert (tmp_path / "qr" / "TwoRegions_int.pt").exists()
    wm = wego_torch.compile(ts, wego_torch.CompileOptions(inputs_meta=[wego_torch.InputMeta(torch.float, list(SHAPE))],
                                                          cache_dir=str(cache_dir), verbose=False))
    x = inputs(SHAPE, 2, seed=9)
    q = torch_quantizer("test", model, (torch.zeros(SHAPE),), output_dir=str(tmp_path / "qr"))
    assert torch.equal(wm(x), q.quant_model(x))
    # and dynamo mode on the same result gives the same module
    dm = wego_torch.compile(model, wego_torch.CompileOptions(
        dynamo=True, dynamo_options=wego_torch.DynamoCompileOptions(str(tmp_path / "qr")),
        cache_dir=str(cache_dir), verbose=False))
    assert torch.equal(dm(x), wm(x))
    with pytest.raises(wego_torch.WegoError, match="input_shapes"):
        wego_torch.quantize(model, "1,3,16,16", data, calibrator)
