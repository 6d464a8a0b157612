"""What the DPU backend produces for one DPU subgraph: the contract between vaic (which writes it into
the compiled .xmodel) and vairun (which loads DDR, runs the instructions, reads the results).

DDR model (docs/isa.md §4.1): eight registers; this compiler uses
- REG_0  CONST      parameters, laid out so LOAD copies them straight into the weight/bias banks;
- REG_1  WORKSPACE  feature maps that live inside the subgraph (reused when their lifetimes end);
- REG_2  INTERFACE  the subgraph's input and output tensors.
Feature maps in DDR are NHWC int8, dense (``stride`` = [H*W*C, W*C, C, 1] bytes), one image per
buffer: a runner with batch B keeps B copies of WORKSPACE and INTERFACE and one of CONST.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from xir.isa import Instruction

CONST_REG, WORKSPACE_REG, INTERFACE_REG = 0, 1, 2
CONTEXT = {CONST_REG: "CONST", WORKSPACE_REG: "WORKSPACE", INTERFACE_REG: "INTERFACE"}


@dataclass(frozen=True)
class TensorPlace:
    """Where one feature map lives in DDR."""
    name: str
    reg_id: int
    ddr_addr: int
    dims: tuple[int, ...]      # NHWC (batch 1) or [N, C]
    fix_point: int
    pixel_stride: int = 0      # bytes between pixels when not dense (a slice of an in-place concat), else 0

    @property
    def size(self) -> int:
        n = 1
        for d in self.dims[1:]:
            n *= d
        return n

    @property
    def stride(self) -> list[int]:
        """Bytes between consecutive indices of each dim (dense, or with the concat's pixel stride)."""
        out, acc = [], 1
        for i, d in enumerate(reversed(self.dims)):
            out.append(acc)
            acc *= d
            if i == 0 and self.pixel_stride:
                acc = self.pixel_stride
        return list(reversed(out))


@dataclass
class LayerStats:
    """Per-layer figures the compiler reports and the profiler attributes cycles to."""
    name: str
    kind: str
    workload: int = 0            # ops (2 per MAC + 1 per output for bias), docs/vaic.md (write step)
    workload_on_arch: int = 0    # the same with sizes rounded up to the engine's parallelism
    params_bytes: int = 0


@dataclass
class DpuProgram:
    instructions: list[Instruction]
    reg_sizes: dict[int, int]                     # reg_id -> bytes
    const_data: bytes                             # contents of REG_0
    inputs: list[TensorPlace]                     # interface tensors read by the subgraph
    outputs: list[TensorPlace]                    # interface tensors written by the subgraph
    internal: list[TensorPlace] = field(default_factory=list)
    layers: list[LayerStats] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    mc_code: bytes = b""                          # the instructions encoded for the target's isa (by verify)
