"""Errors of the DPU backend.

:class:`TilingError` is the one a pipeline is expected to catch: it names an op that the backend
cannot generate on this target although the partitioner placed it on the DPU (its working set does
not fit the banks under any tiling, or one of its parameters has no encoding in the instruction
fields). The pipeline moves that op to the CPU with reason ``NOT_TILED`` and partitions again.
Internal inconsistencies found by the backend's own checks raise :class:`vaic.errors.CompilerBug`.
"""
from __future__ import annotations

from ..errors import VaicError


class TilingError(VaicError):
    """``op_name`` cannot be generated for the DPU: ``reason`` says why (one sentence)."""

    def __init__(self, op_name: str, reason: str):
        super().__init__(f"op '{op_name}' cannot be tiled for the DPU: {reason}")
        self.op_name = op_name
        self.reason = reason
