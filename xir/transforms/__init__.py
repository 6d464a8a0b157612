"""Graph transforms shared by the tools (each module one rule)."""
from .canonicalize import canonicalize
from .channel_permute import fold_channel_permutes, fold_flatten_permutes
from .dense_to_conv import dense_to_conv
from .fold_fix import fold_fix_ops
from .fold_pad import fold_pad

__all__ = ["canonicalize", "dense_to_conv", "fold_channel_permutes", "fold_fix_ops", "fold_flatten_permutes",
           "fold_pad"]
