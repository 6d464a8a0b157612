"""``wego_torch.quantize``: WeGO's on-the-fly quantization, on vaiq.

Rule: calibration is vaiq's (``torch_quantizer('calib')``, ``calibrator(quant_model, dataloader)``
runs the forward passes, ``export_quant_config()`` writes quant_info.json into ``output_dir``); then
vaiq's test mode loads it, runs ``calibrator(quant_model, export_dataloader)`` when an export data
loader is given (a check forward, as the original runs one before exporting), and exports the quantized
TorchScript ``<Net>_int.pt``. The returned module is that TorchScript module, ready for
``wego_torch.compile(..., CompileOptions(inputs_meta=...))`` (WeGO builds its own deploy graphs, so
models with ops no xmodel can hold, such as GELU, quantize too).
"""
from __future__ import annotations

import torch

from vaiq import VaiqError, torch_quantizer

from .errors import WegoError


def _shapes(input_shapes) -> tuple:
    if not isinstance(input_shapes, (list, tuple)) or not input_shapes:
        raise WegoError(f"input_shapes must be a list of shapes such as [[1, 3, 224, 224]], got {input_shapes!r}")
    if all(isinstance(d, int) for d in input_shapes):
        input_shapes = [input_shapes]
    try:
        return tuple(torch.zeros([int(d) for d in s]) for s in input_shapes)
    except (TypeError, ValueError, RuntimeError):
        raise WegoError(f"input_shapes must be lists of positive integers, got {input_shapes!r}") from None


def quantize(module, input_shapes, dataloader, calibrator, export_dataloader=None,
             output_dir: str = "quantize_result", bitwidth=None, quant_config_file=None):
    if not isinstance(module, torch.nn.Module) or isinstance(module, torch.jit.ScriptModule):
        raise WegoError(f"quantize takes the float torch.nn.Module, got {type(module).__name__}")
    if not callable(calibrator):
        raise WegoError("calibrator must be a function calibrator(quant_model, dataloader) running forward passes")
    args = _shapes(input_shapes)
    try:
        q = torch_quantizer("calib", module, args, output_dir=str(output_dir), bitwidth=bitwidth,
                            quant_config_file=quant_config_file, dynamo=True)
        with torch.no_grad():
            calibrator(q.quant_model, dataloader)
        q.export_quant_config()
        t = torch_quantizer("test", module, args, output_dir=str(output_dir), bitwidth=bitwidth,
                            quant_config_file=quant_config_file, dynamo=True)
        if export_dataloader is not None:
            with torch.no_grad():
                calibrator(t.quant_model, export_dataloader)
        path = t.export_torch_script()
    except VaiqError as e:
        raise WegoError(f"quantization failed: {e}") from None
    return torch.jit.load(str(path))
