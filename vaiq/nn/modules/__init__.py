"""vaiq's modules under pytorch_nndct's ``pytorch_nndct.nn.modules`` names."""
from .stubs import DeQuantStub, QuantStub

__all__ = ["QuantStub", "DeQuantStub"]
