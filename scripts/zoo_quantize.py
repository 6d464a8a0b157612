"""The quantize step the benchmark scripts share: a vaiq.zoo model calibrated on random data and
exported as a deploy .xmodel (calib, then test mode)."""
from __future__ import annotations

from pathlib import Path


def quantized_xmodel(name: str, folder: Path, calib_batch: int = 2, quant_config_file=None,
                     input_shape: tuple[int, ...] | None = None, model_kwargs: dict | None = None) -> Path:
    """Quantize zoo model ``name`` in ``folder`` (calibrating on ``calib_batch`` random images, with
    an optional quant config file; ``input_shape`` (batch 1) and factory ``model_kwargs`` default to
    the zoo's); returns the deploy .xmodel's path."""
    import torch
    from vaiq import torch_quantizer
    from vaiq.zoo import MODELS, get_model
    shape = tuple(input_shape or MODELS[name].input_shape)
    model = get_model(name, input_shape=shape, **(model_kwargs or {}))
    x = torch.randn(*shape)
    q = torch_quantizer("calib", model, (x,), output_dir=str(folder), quant_config_file=quant_config_file)
    with torch.no_grad():
        q.quant_model(torch.randn(calib_batch, *shape[1:]))
    q.export_quant_config()
    return Path(torch_quantizer("test", model, (x,), output_dir=str(folder),
                                quant_config_file=quant_config_file).export_xmodel())


def compiled_xmodel(name: str, target: str, folder: Path, input_shape: tuple[int, ...] | None = None,
                    model_kwargs: dict | None = None) -> Path:
    """Quantize zoo model ``name`` (calibrating on random data; input shape and factory arguments as
    in :func:`quantized_xmodel`) and compile it for ``target`` into ``folder/out``; reuses a model
    compiled there before."""
    out = folder / "out" / f"{name}.xmodel"
    if out.exists():
        return out
    from vaic.pipeline import compile_graph
    from vaic.writer import write_outputs
    res = compile_graph(quantized_xmodel(name, folder, input_shape=input_shape, model_kwargs=model_kwargs), target)
    return Path(write_outputs(res, folder / "out", name)[f"{name}.xmodel"])
