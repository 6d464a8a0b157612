"""The DPU backend: one DPU subgraph of a canonical fixed-point graph -> a verified instruction
stream with its DDR plan (``DpuProgram``).

``generate(sg, g, target)`` plans DDR (ddrplan), tiles every layer to the target's banks (tiling,
chanwise), emits instructions with dependency tokens (conv, depthwise and hard-sigmoid on DPTWISE
or the ALU, pool, eltwise, copy via the emitter) and checks the result (verify). ``GENERATED``
lists the op types it generates; an op it cannot tile raises ``TilingError`` so the pipeline can
move it to the CPU (reason NOT_TILED).
"""
from .errors import TilingError
from .generate import GENERATED, generate
from .program import CONST_REG, CONTEXT, INTERFACE_REG, WORKSPACE_REG, DpuProgram, LayerStats, TensorPlace
from .verify import verify

__all__ = ["GENERATED", "generate", "verify", "TilingError", "DpuProgram", "LayerStats", "TensorPlace",
           "CONST_REG", "WORKSPACE_REG", "INTERFACE_REG", "CONTEXT"]
