"""pytorch_nndct's ``pytorch_nndct.apis`` names on vaiq: ``from vaiq.apis import torch_quantizer, Inspector``."""
from .api import dump_xmodel, torch_quantizer
from .inspector import Inspector

__all__ = ["torch_quantizer", "dump_xmodel", "Inspector"]
