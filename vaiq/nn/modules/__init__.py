"""vaiq's modules under pytorch_nndct's ``pytorch_nndct.nn.modules`` names (``functional`` holds Add, Cat, ...)."""
from .stubs import DeQuantStub, QuantStub

__all__ = ["QuantStub", "DeQuantStub"]
