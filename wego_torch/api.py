"""``wego_torch.compile``, ``wego_torch.get_target_info`` and ``wego_torch.quantize``."""
from __future__ import annotations

import os

import torch

from .compiled import target_of
from .errors import WegoError
from .module import WegoModule
from .options import DEFAULT_TARGET, CompileOptions
from .quantized import quant_info_path


def _examples(opts: CompileOptions):
    if not opts.inputs_meta:
        return None
    return tuple(torch.zeros(m.shape, dtype=m.dtype) for m in opts.inputs_meta)


def compile(model, options: CompileOptions | None = None) -> WegoModule:  # noqa: A001 (WeGO's name)
    """Compile ``model`` for the target: dynamo mode takes the float ``nn.Module`` and
    ``dynamo_options.quantize_result_path``; WeGO 1.x mode (``dynamo=False``) the quantized
    TorchScript module written by vaiq's ``export_torch_script()`` and ``inputs_meta``."""
    opts = options if options is not None else CompileOptions()
    if not isinstance(opts, CompileOptions):
        raise WegoError(f"options must be a wego_torch.CompileOptions, got {type(opts).__name__}")
    target_of(opts.resolved_target())          # an unknown target fails here, before any work
    if not opts.dynamo:
        from .torchscript import compile_script
        return compile_script(model, opts)
    if isinstance(model, torch.jit.ScriptModule):
        raise WegoError("dynamo mode compiles the float nn.Module; for a quantized TorchScript module "
                        "use CompileOptions(dynamo=False, inputs_meta=[...])")
    if not isinstance(model, torch.nn.Module):
        raise WegoError(f"the model must be a torch.nn.Module, got {type(model).__name__}")
    quant_dir = opts.dynamo_options.quantize_result_path
    quant_info_path(quant_dir)
    return WegoModule(model.eval(), quant_dir, opts, _examples(opts))


def get_target_info(target: str | None = None) -> dict:
    """The target WeGO compiles for (``WEGO_TARGET`` or DPUCZDX8G/KV260 when not given)."""
    t = target_of(target or os.environ.get("WEGO_TARGET") or DEFAULT_TARGET)
    return {"target": t.name, "board": t.board, "fingerprint": t.fingerprint_hex, "batch": t.batch,
            "cores": t.cores, "isa": t.isa, "clock_mhz": t.clock_mhz}


def quantize(module: torch.nn.Module, input_shapes, dataloader, calibrator, export_dataloader=None,
             output_dir: str = "quantize_result", bitwidth: int | None = None, quant_config_file=None):
    """WeGO's on-the-fly quantization: calibrate ``module`` with vaiq over ``dataloader`` (each batch
    passed through ``calibrator(quant_model, batch)``), write the result into ``output_dir`` and
    return the float module, ready for ``compile`` with that folder."""
    from .onthefly import quantize as _quantize
    return _quantize(module, input_shapes, dataloader, calibrator, export_dataloader, output_dir, bitwidth,
                     quant_config_file)
