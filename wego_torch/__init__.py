"""wego_torch: WeGO-Torch on this project. Compile a float torch model with its quantization result
into one ``nn.Module`` whose DPU regions run on vairun's emulator and the rest in torch.

    import wego_torch
    opts = wego_torch.CompileOptions(dynamo=True,
        dynamo_options=wego_torch.DynamoCompileOptions(quantize_result_path="quant_result"))
    wego_mod = wego_torch.compile(float_model, opts)
    y = wego_mod(images)

An integration package: the only package besides tests and scripts that imports vaiq, vaic and
vairun together (placement is vaic's, quantization vaiq's, execution vairun's; docs/wego.md).
"""
from .api import compile, get_target_info, quantize
from .archive import load
from .errors import WegoError
from .module import WegoModule
from .options import (AccuracyMode, CompileOptions, DynamoCompileOptions, InputMeta, OptimizeOptions,
                      PartitionOptions)
from .backend import register_backend

register_backend()

__version__ = "0.1.0"

__all__ = ["compile", "load", "quantize", "get_target_info", "WegoModule", "WegoError", "CompileOptions",
           "DynamoCompileOptions", "InputMeta", "AccuracyMode", "OptimizeOptions", "PartitionOptions",
           "__version__"]
