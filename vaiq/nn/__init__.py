"""pytorch_nndct's ``pytorch_nndct.nn`` names on vaiq: ``from vaiq.nn import QuantStub, DeQuantStub``."""
from .modules import DeQuantStub, QuantStub

__all__ = ["QuantStub", "DeQuantStub"]
