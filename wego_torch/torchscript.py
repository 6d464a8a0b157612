"""WeGO 1.x mode (``CompileOptions(dynamo=False, inputs_meta=[...])``): compile the quantized
TorchScript module written by vaiq's ``export_torch_script()``.

Rule: that module carries the float model as a torch.export program and its quant_info.json
(buffers ``vaiq_float_program``, ``vaiq_quant_info`` and maybe ``vaiq_bias_corr``, see
vaiq/export_torchscript.py); WeGO
compiles those exactly as dynamo mode compiles a float model with its quantization result, for the
input shapes of ``inputs_meta`` (any batch size at run time). A TorchScript module without them (not
written by vaiq) is refused with a WegoError, as is a float module in this mode.
"""
from __future__ import annotations

import json

import torch

from .archive import from_program
from .errors import WegoError
from .options import CompileOptions

PROGRAM, QUANT_INFO, BIAS_CORR = "vaiq_float_program", "vaiq_quant_info", "vaiq_bias_corr"


def compile_script(module, opts: CompileOptions):
    if not isinstance(module, torch.jit.ScriptModule):
        if isinstance(module, torch.nn.Module):
            raise WegoError("CompileOptions(dynamo=False) compiles the quantized TorchScript module written by "
                            "vaiq's export_torch_script(); for a float nn.Module use dynamo=True with "
                            "DynamoCompileOptions(quantize_result_path=...)")
        raise WegoError(f"the model must be a torch.jit.ScriptModule (torch.jit.load of <Net>_int.pt), "
                        f"got {type(module).__name__}")
    if not opts.inputs_meta:
        raise WegoError("WeGO's TorchScript mode needs inputs_meta=[wego_torch.InputMeta(torch.float, [N, C, H, W])]")
    bufs = dict(module.named_buffers())
    if PROGRAM not in bufs or QUANT_INFO not in bufs:
        raise WegoError("this TorchScript module was not written by vaiq's export_torch_script() (it carries no "
                        f"{PROGRAM} / {QUANT_INFO}); re-export it with vaiq")
    info = bytes(bufs[QUANT_INFO].numpy().tobytes())
    try:
        data = json.loads(info)
        name = next(k.split("::", 1)[0] for sec in ("input", "output") for k in data.get(sec, {}) if "::" in k)
    except (json.JSONDecodeError, StopIteration):
        raise WegoError("the TorchScript module's quantization result is unreadable; re-export it with vaiq") from None
    example = tuple(torch.zeros(m.shape, dtype=m.dtype) for m in opts.inputs_meta)
    files = {"quant_info.json": info}
    if BIAS_CORR in bufs:
        files["bias_corr.pth"] = bytes(bufs[BIAS_CORR].numpy().tobytes())
    return from_program(bytes(bufs[PROGRAM].numpy().tobytes()), files, name, example, opts)
