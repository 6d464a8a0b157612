"""vaiq: post-training quantization and QAT of torch models for DPU targets, with pytorch_nndct's API.

    from vaiq import torch_quantizer, dump_xmodel, Inspector, QatProcessor
    from vaiq.nn import QuantStub, DeQuantStub
"""
from .api import dump_xmodel, torch_quantizer
from .errors import CaptureError, ConfigError, QatError, QuantInfoError, VaiqError
from .inspector import Inspector
from .qat import QatProcessor

__version__ = "0.1.0"

__all__ = ["torch_quantizer", "dump_xmodel", "Inspector", "QatProcessor", "QatError", "VaiqError", "CaptureError",
           "ConfigError", "QuantInfoError", "__version__"]
