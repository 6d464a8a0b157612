"""Graph transforms shared by the tools (each module one rule)."""
from .channel_permute import fold_channel_permutes, fold_flatten_permutes
from .fold_fix import fold_fix_ops

__all__ = ["fold_channel_permutes", "fold_fix_ops", "fold_flatten_permutes"]
