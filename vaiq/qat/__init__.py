"""vaiq.qat: quantization-aware training with trained power-of-two thresholds (pytorch_nndct's
``QatProcessor``). See docs/vaiq.md, section QAT."""
from .processor import QatProcessor
from .trainable import QatModel

__all__ = ["QatProcessor", "QatModel"]
