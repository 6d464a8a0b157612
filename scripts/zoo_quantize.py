"""The quantize step the benchmark scripts share: a vaiq.zoo model calibrated on random data and
exported as a deploy .xmodel (calib, then test mode)."""
from __future__ import annotations

from pathlib import Path


def quantized_xmodel(name: str, folder: Path, calib_batch: int = 2, quant_config_file=None) -> Path:
    """Quantize zoo model ``name`` in ``folder`` (calibrating on ``calib_batch`` random images, with
    an optional quant config file); returns the deploy .xmodel's path."""
    import torch
    from vaiq import torch_quantizer
    from vaiq.zoo import MODELS, get_model
    spec = MODELS[name]
    model = get_model(name)
    x = torch.randn(*spec.input_shape)
    q = torch_quantizer("calib", model, (x,), output_dir=str(folder), quant_config_file=quant_config_file)
    with torch.no_grad():
        q.quant_model(torch.randn(calib_batch, *spec.input_shape[1:]))
    q.export_quant_config()
    return Path(torch_quantizer("test", model, (x,), output_dir=str(folder),
                                quant_config_file=quant_config_file).export_xmodel())


def compiled_xmodel(name: str, target: str, folder: Path) -> Path:
    """Quantize zoo model ``name`` (calibrating on random data) and compile it for ``target`` into
    ``folder/out``; reuses a model compiled there before."""
    out = folder / "out" / f"{name}.xmodel"
    if out.exists():
        return out
    from vaic.pipeline import compile_graph
    from vaic.writer import write_outputs
    res = compile_graph(quantized_xmodel(name, folder), target)
    return Path(write_outputs(res, folder / "out", name)[f"{name}.xmodel"])
