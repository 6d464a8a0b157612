"""The tutorial's model: the toy FFN (2 -> 6 -> 4 -> 1, ReLU) from the vaiq model zoo."""

from vaiq.zoo import FFN

__all__ = ["FFN"]
