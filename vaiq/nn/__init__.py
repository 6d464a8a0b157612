"""pytorch_nndct's ``pytorch_nndct.nn`` names on vaiq: ``from vaiq.nn import QuantStub, DeQuantStub``
(``vaiq.nn.modules.functional`` holds its Add, Cat, ... modules)."""
from .modules import DeQuantStub, QuantStub

__all__ = ["QuantStub", "DeQuantStub"]
