"""vaiq: post-training quantization of torch models for DPU targets, with pytorch_nndct's API.

    from vaiq import torch_quantizer, dump_xmodel, Inspector
    from vaiq.nn import QuantStub, DeQuantStub
"""
from .api import dump_xmodel, torch_quantizer
from .inspector import Inspector
from .errors import CaptureError, ConfigError, QuantInfoError, VaiqError

__version__ = "0.1.0"

__all__ = ["torch_quantizer", "dump_xmodel", "Inspector", "VaiqError", "CaptureError", "ConfigError", "QuantInfoError",
           "__version__"]
