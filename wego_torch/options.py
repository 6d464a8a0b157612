"""WeGO-Torch's compile options, with the original API's names.

Rules: ``CompileOptions(dynamo=True, dynamo_options=DynamoCompileOptions(quantize_result_path=...))``
compiles a float ``nn.Module`` with a quantization result (WeGO 2 / PyTorch 2 mode);
``dynamo=False`` (the default, as in WeGO 1.x) compiles a quantized TorchScript module written by
``vaiq``'s ``export_torch_script()`` and needs ``inputs_meta``. ``target`` (our addition) is any arch
name or path vaic accepts; when it is not given, the ``WEGO_TARGET`` environment variable, else
``DPUCZDX8G/KV260``. Fields with no meaning on the emulator are accepted and recorded (docs/wego.md).
"""
from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from .errors import WegoError

DEFAULT_TARGET = "DPUCZDX8G/KV260"


class AccuracyMode(enum.Enum):
    """WeGO 1.x's fix-neuron handling. Both give the same numbers here: every fix position of the
    quantization result is honoured exactly (the emulator is bit-exact with vaiq's test mode)."""
    Default = 0
    ReserveReduantFixNeurons = 1      # the original's spelling


@dataclass
class InputMeta:
    """One model input: dtype and shape (batch first), as WeGO 1.x's ``inputs_meta`` entries."""
    dtype: torch.dtype
    shape: list[int]

    def __post_init__(self):
        if not isinstance(self.dtype, torch.dtype):
            raise WegoError(f"InputMeta dtype must be a torch.dtype such as torch.float, got {self.dtype!r}")
        try:
            self.shape = [int(s) for s in self.shape]
        except (TypeError, ValueError):
            raise WegoError(f"InputMeta shape must be a list of integers, got {self.shape!r}") from None
        if not self.shape or any(s < 1 for s in self.shape):
            raise WegoError(f"InputMeta shape must be positive integers, got {self.shape}")


class OptimizeOptions:
    """WeGO's graph-optimization switches. Accepted and recorded; the emulated flow has no
    framework-side optimizations to switch, so they do not change the compiled module."""

    def __init__(self, **switches: Any):
        self.switches = dict(switches)

    def __repr__(self) -> str:
        return f"OptimizeOptions({', '.join(f'{k}={v!r}' for k, v in self.switches.items())})"


@dataclass
class PartitionOptions:
    """``wego_subgraph_min_ops_number``: a DPU subgraph with fewer ops runs on the CPU (in torch)
    instead; ``extra_accel_op_list``: op types the user wants accelerated. Placement is vaic's (the
    DPU runs what the target supports), so listed types that still run on the CPU are reported in
    the compile summary, never forced onto the DPU."""
    wego_subgraph_min_ops_number: int = 1
    extra_accel_op_list: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not isinstance(self.wego_subgraph_min_ops_number, int) or self.wego_subgraph_min_ops_number < 0:
            raise WegoError("wego_subgraph_min_ops_number must be a non-negative integer, "
                            f"got {self.wego_subgraph_min_ops_number!r}")
        if isinstance(self.extra_accel_op_list, str) or \
                not all(isinstance(o, str) for o in self.extra_accel_op_list):
            raise WegoError(f"extra_accel_op_list must be a list of op type names, got {self.extra_accel_op_list!r}")
        self.extra_accel_op_list = list(self.extra_accel_op_list)


@dataclass
class DynamoCompileOptions:
    """Dynamo mode: the folder holding the quantization result (``quant_info.json``)."""
    quantize_result_path: str = "quantize_result"


@dataclass
class CompileOptions:
    dynamo: bool = False
    dynamo_options: DynamoCompileOptions | None = None
    inputs_meta: list[InputMeta] | None = None
    accuracy_mode: AccuracyMode = AccuracyMode.Default
    optimize_options: OptimizeOptions | None = None
    partition_options: PartitionOptions | None = None
    target: str | None = None          # our addition; see the module docstring
    cache_dir: str | None = None       # our addition: the compile cache (default WEGO_CACHE_DIR or ~/.cache)
    verbose: bool = True               # print the compile summary

    def __post_init__(self):
        if self.dynamo and self.dynamo_options is None:
            self.dynamo_options = DynamoCompileOptions()
        if self.dynamo_options is not None and not isinstance(self.dynamo_options, DynamoCompileOptions):
            raise WegoError("dynamo_options must be a wego_torch.DynamoCompileOptions")
        if self.inputs_meta is not None:
            if isinstance(self.inputs_meta, InputMeta):
                self.inputs_meta = [self.inputs_meta]
            if not all(isinstance(m, InputMeta) for m in self.inputs_meta):
                raise WegoError("inputs_meta must be a list of wego_torch.InputMeta")
        if not isinstance(self.accuracy_mode, AccuracyMode):
            raise WegoError(f"accuracy_mode must be a wego_torch.AccuracyMode, got {self.accuracy_mode!r}")
        if self.partition_options is None:
            self.partition_options = PartitionOptions()

    def resolved_target(self) -> str:
        return self.target or os.environ.get("WEGO_TARGET") or DEFAULT_TARGET

    def resolved_cache_dir(self) -> str:
        return self.cache_dir or os.environ.get("WEGO_CACHE_DIR") or \
            os.path.join(os.path.expanduser("~"), ".cache", "wego_torch")
