"""Graph transforms shared by the tools (each module one rule)."""
from .fold_fix import fold_fix_ops

__all__ = ["fold_fix_ops"]
