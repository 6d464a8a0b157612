"""``WegoModule``: the compiled model, called like the original.

Rules: the module compiles on construction when the input shapes are known (``inputs_meta``, the
dynamo backend's example inputs, a saved module), else on its first call (taking the shapes from that
call, any batch size afterwards); compilation happens once, under a lock, so concurrent first calls
are safe. Gradients are never recorded (the module is for inference; it works under ``no_grad`` and
``inference_mode`` alike).
"""
from __future__ import annotations

import copy
import threading
from pathlib import Path

import torch

from .core import Core, build_core
from .errors import WegoError
from .options import CompileOptions
from .report import print_summary


class WegoModule(torch.nn.Module):
    def __init__(self, model: torch.nn.Module, quant_dir, options: CompileOptions, example_args=None,
                 cache_dir=None, batch_one: bool = True):
        super().__init__()
        object.__setattr__(self, "_float_model", model)    # not a submodule: its weights live in the compiled form
        self._quant_dir = str(quant_dir)
        self._options = options
        self._cache_dir = cache_dir or options.resolved_cache_dir()
        self._lock = threading.Lock()
        self._core: Core | None = None
        self._batch_one = batch_one      # capture on the first image of the examples (else on all of them)
        if example_args is not None:
            self._build(example_args)

    # -- compiling ------------------------------------------------------------------------------
    def _build(self, args) -> Core:
        with self._lock:
            if self._core is None:
                example = tuple((a[:1] if self._batch_one else a).detach().cpu() for a in args)
                po = self._options.partition_options
                core = build_core(self._float_model, example, self._quant_dir, self._options.resolved_target(),
                                  self._cache_dir, po.wego_subgraph_min_ops_number)
                self._quant_files = core.q.quant_result_files()
                cpu_kinds = {d["kind"] for d in core.summary["cpu_ops"]} | {d["kind"].split(".")[0]
                                                                            for d in core.summary["cpu_ops"]}
                core.summary["extra_accel_not_accelerated"] = [k for k in po.extra_accel_op_list if k in cpu_kinds]
                if self._options.verbose:
                    print_summary(core.summary)
                self._core = core
            return self._core

    @property
    def compiled(self) -> bool:
        return self._core is not None

    # -- running --------------------------------------------------------------------------------
    def forward(self, *args):
        if not args:
            raise WegoError("the module takes input tensors")
        for k, a in enumerate(args):
            if not isinstance(a, torch.Tensor):
                raise WegoError(f"input {k} must be a torch.Tensor, got {type(a).__name__}")
        core = self._core or self._build(args)
        return core.run(*args)

    # -- reports --------------------------------------------------------------------------------
    def summary(self) -> dict:
        """What the compile printed, as data (DPU subgraphs, CPU ops with reason codes, seconds)."""
        if self._core is None:
            raise WegoError("the module is not compiled yet: call it once (or give inputs_meta) first")
        return copy.deepcopy(self._core.summary)

    def save(self, path) -> None:
        """One file holding everything: the exported float program, the quantization result and the
        compiled model; ``wego_torch.load(path)`` gives the module back in any process."""
        if self._core is None:
            raise WegoError("the module is not compiled yet: call it once (or give inputs_meta) before save()")
        from .archive import save_archive
        save_archive(self, path)
