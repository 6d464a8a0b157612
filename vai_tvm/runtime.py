"""``vai_tvm.GraphModule``: the original's graph-runtime calls over a Relax VM, with on-the-fly quantization.

Rules:
- the module runs TVM's build of the partitioned model on the CPU; every DPU partition is a call of the
  packed function ``vai_tvm.run_partition`` (registered here) with the partition's record as first argument;
- the first ``PX_QUANT_SIZE`` (default 128; ``quant_size=``) runs compute each partition in float (vaiq's
  ONNX frontend's torch model of the partition) and record its inputs; after that run every partition is
  quantized (vaiq) and compiled (vaic) into the build folder, a progress line says so, and from then on
  every partition runs on vairun's emulator (``GraphRunner`` over its compiled xmodel);
- a module whose executable carries a build (``vai_tvm.carry``), or whose build folder holds a finished build
  of the same model and target, starts on the DPU at once; the build folder is ``build_dir=``, else
  ``PX_BUILD_DIR``, else a private temporary folder of this module;
- at the switch the build is attached to the executable, so ``export_library`` afterwards carries it.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .build import check_empty_or_build, pack_build, read_build, unpack_build, write_build
from .carry import attach_build, carried_build
from .dpus import target_of
from .errors import VaiTvmError
from .partition import NUM_OUTPUTS, PACKED
from .record import decode_record
from .tvm_check import require_tvm

tvm = require_tvm()
import tvm_ffi  # noqa: E402
from tvm import relax  # noqa: E402

DEFAULT_QUANT_SIZE = 128
#: torch's intra-op threads for the partitions' torch work (float runs, quantization) inside TVM's calls
TORCH_THREADS = 1
_current = threading.local()


@contextmanager
def torch_threads(n: int = TORCH_THREADS):
    """Run torch with ``n`` intra-op threads, then restore: TVM's thread pool holds the cores during a
    run, and torch's OpenMP pool spinning against it made a ResNet-18 float run ~15x slower
    (scripts/bench_tvm.py, docs/tvm.md)."""
    import torch
    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if before != n:
            torch.set_num_threads(before)


def quant_size_of(value=None) -> int:
    """``quant_size=``, else ``PX_QUANT_SIZE``, else 128: a positive integer."""
    src = "quant_size" if value is not None else "PX_QUANT_SIZE"
    if value is None:
        value = os.environ.get("PX_QUANT_SIZE", str(DEFAULT_QUANT_SIZE))
    try:
        n = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        n = None
    if n is None or n < 1 or (isinstance(value, float) and value != n):
        raise VaiTvmError(f"{src}={value!r} is not a positive integer (the number of float runs recorded "
                          "for quantization, default 128)")
    return n


class _Partition:
    """One DPU partition: its record, recorded inputs, float model and (after the switch) runner."""

    def __init__(self, header: dict, onnx_bytes: bytes):
        self.header, self.onnx = header, onnx_bytes
        self.recorded: list[list[np.ndarray]] = []
        self.float_model = None
        self.runner = None
        self.output_order: list[str] = []

    def run_float(self, ins: list[np.ndarray]) -> list[np.ndarray]:
        import torch
        if self.float_model is None:
            from vaiq.onnx_frontend import load_onnx
            self.float_model = load_onnx(self.onnx)
        with torch.no_grad(), torch_threads():
            out = self.float_model(*(torch.from_numpy(x) for x in ins))
        out = out if isinstance(out, (tuple, list)) else (out,)
        return [o.detach().numpy() for o in out]

    def run_dpu(self, ins: list[np.ndarray]) -> list[np.ndarray]:
        return run_compiled(self.runner, self.output_order, ins)


def _nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1))) if x.ndim == 4 else x


def _nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2))) if x.ndim == 4 else x


def output_order(runner, n_outputs: int) -> list[str]:
    """The runner's output op names in the partition's output order (``out0``, ``out1``, ...)."""
    names = [o.get_name() for o in runner.output_ops]
    if len(names) != n_outputs:
        raise VaiTvmError(f"the compiled partition has {len(names)} outputs, its model {n_outputs}; "
                          "delete the build folder and run again")
    if n_outputs == 1:
        return names
    order = []
    for i in range(n_outputs):
        hit = [n for n in names if n == f"out{i}" or n.startswith(f"out{i}_") or f"out{i}" in n.split("/")]
        if len(hit) != 1:
            raise VaiTvmError(f"cannot tell which compiled output is out{i} among {names}")
        order.append(hit[0])
    return order


def run_compiled(runner, order: list[str], ins: list[np.ndarray]) -> list[np.ndarray]:
    """A compiled partition on vairun: NCHW float inputs -> NCHW float outputs, in the partition's order."""
    res = runner.run([_nhwc(x) for x in ins])
    return [_nchw(np.asarray(res[n], np.float32)) for n in order]


@tvm.register_global_func(PACKED, override=True)
def _run_partition(meta, *args):
    gm = getattr(_current, "module", None)
    if gm is None:
        raise VaiTvmError("a DPU partition ran outside vai_tvm.GraphModule; run the module through "
                          "vai_tvm.GraphModule(lib)")
    try:
        gm._partition_call(meta, args)
    except BaseException as e:     # kept, so run() raises it as it is (not as TVM's wrapped error)
        gm._error = e
        raise


class GraphModule:
    """``GraphModule(lib)`` over ``relax.build(...)``'s executable or a ``tvm.runtime.load_module`` library."""

    def __init__(self, lib, device=None, *, quant_size=None, build_dir=None, quiet: bool = False):
        self.quant_size = quant_size_of(quant_size)
        mod = getattr(lib, "mod", lib)
        if not isinstance(mod, tvm.runtime.Module):
            raise VaiTvmError(f"GraphModule takes relax.build's executable or tvm.runtime.load_module's "
                              f"module, got {type(lib).__name__}")
        self._mod = mod
        try:
            self.vm = relax.VirtualMachine(lib, device or tvm.cpu())
        except Exception as e:
            raise VaiTvmError(f"the module is not a Relax VM executable ({str(e).splitlines()[0]}); build it "
                              "with relax.build(mod, target='llvm')") from None
        arity = self.vm._get_function_arity("main")
        self.input_names = [self.vm._get_function_param_name("main", i) for i in range(arity)]
        self.quiet = quiet
        self._inputs: dict[str, np.ndarray] = {}
        self._outputs: list | None = None
        self._num_outputs = self._declared_num_outputs()
        self.runs = 0
        self.switched = False
        self.switch_seconds: float | None = None
        self.parts: dict[int, _Partition] = {}
        self.last_partition_io: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        self._key_cache: dict[int, _Partition] = {}
        self._private = None
        if build_dir is None and os.environ.get("PX_BUILD_DIR"):
            build_dir = os.environ["PX_BUILD_DIR"]
        if build_dir is None:
            self._private = tempfile.mkdtemp(prefix="vai_tvm-build-")
            weakref.finalize(self, shutil.rmtree, self._private, True)
            build_dir = self._private
        self.build_dir = Path(build_dir)
        check_empty_or_build(self.build_dir)
        self._carried = carried_build(mod)
        self._meta_checked = False
        self._error = None

    # -------------------------------------------------------------- the original's calls
    def set_input(self, key, value=None, **params):
        """Set input ``key`` (a name, or an index) to ``value`` (numpy or tvm tensor)."""
        if isinstance(key, int) and not isinstance(key, bool):
            if not 0 <= key < len(self.input_names):
                raise VaiTvmError(f"input index {key} is out of range; the model has inputs {self.input_names}")
            key = self.input_names[key]
        if key is not None:
            if key not in self.input_names:
                raise VaiTvmError(f"unknown input {key!r}; the model's inputs are {self.input_names}")
            self._inputs[key] = self._array(value, key)
        for k, v in params.items():
            self.set_input(k, v)

    def get_input(self, key):
        name = self.input_names[key] if isinstance(key, int) else key
        if name not in self._inputs:
            raise VaiTvmError(f"input {name!r} has not been set")
        return tvm.runtime.tensor(self._inputs[name])

    def get_num_inputs(self) -> int:
        return len(self.input_names)

    def run(self, **inputs):
        """Run the model once on the inputs set; the first PX_QUANT_SIZE runs calibrate the DPU partitions."""
        for k, v in inputs.items():
            self.set_input(k, v)
        missing = [n for n in self.input_names if n not in self._inputs]
        if missing:
            raise VaiTvmError(f"run() before set_input(): input(s) {missing} not set; call "
                              "set_input(name, array) first")
        _current.module, self._error = self, None
        try:
            out = self.vm["main"](*(tvm.runtime.tensor(self._inputs[n]) for n in self.input_names))
        except Exception as e:
            if self._error is not None:
                raise self._error from None
            raise VaiTvmError(f"the model failed in TVM: {str(e).splitlines()[-1] if str(e) else type(e).__name__}") \
                from None
        finally:
            _current.module = None
        self._outputs = list(out) if isinstance(out, (tuple, list, tvm_ffi.Array)) else [out]
        if not self.switched and self.parts:
            self.runs += 1
            if self.runs >= self.quant_size:
                self._switch()

    def get_output(self, index: int, out=None):
        if self._outputs is None:
            raise VaiTvmError("no outputs yet: call run() first")
        if not 0 <= index < len(self._outputs):
            raise VaiTvmError(f"output index {index} is out of range; the model has {len(self._outputs)} outputs")
        v = self._outputs[index]
        if out is not None:
            out.copyfrom(v)
            return out
        return v

    def get_num_outputs(self) -> int:
        """The number of outputs: from ``partition_for_vitis_ai``'s ``NUM_OUTPUTS`` function before any run
        (a module built without it: after the first run)."""
        if self._outputs is not None:
            return len(self._outputs)
        if self._num_outputs is not None:
            return self._num_outputs
        raise VaiTvmError("the number of outputs of a module not partitioned by vai_tvm.partition_for_vitis_ai "
                          "is known after the first run(); call run() first")

    def _declared_num_outputs(self) -> int | None:
        try:
            f = self.vm[NUM_OUTPUTS]
        except AttributeError:      # "Module has no function": not a module partition_for_vitis_ai made
            return None
        return int(f())

    # -------------------------------------------------------------- partitions
    @staticmethod
    def _array(value, name) -> np.ndarray:
        if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
            value = value.numpy()
        try:
            a = np.asarray(value)
        except Exception:
            raise VaiTvmError(f"input {name!r}: give a numpy array or tvm tensor, got {type(value).__name__}") from None
        if a.dtype == object:
            raise VaiTvmError(f"input {name!r}: give a numpy array or tvm tensor, got {type(value).__name__}")
        return np.ascontiguousarray(a, np.float32) if a.dtype != np.float32 else np.ascontiguousarray(a)

    def _part(self, meta) -> _Partition:
        view = np.from_dlpack(meta)
        key = (view.ctypes.data, view.size)
        p = self._key_cache.get(key)
        if p is None:
            header, onnx_bytes = decode_record(view.tobytes())
            p = self.parts.get(header["index"])
            if p is None:
                p = self.parts[header["index"]] = _Partition(header, onnx_bytes)
            self._key_cache[key] = p
            if not self._meta_checked:
                self._meta_checked = True
                self._start_from_build(header)
        return p

    def _partition_call(self, meta, args) -> None:
        p = self._part(meta)
        n_in = len(p.header["inputs"])
        ins = [np.from_dlpack(a).copy() for a in args[:n_in]]
        if self.switched:
            outs = p.run_dpu(ins)
        else:
            outs = p.run_float(ins)
            p.recorded.append(ins)
        self.last_partition_io[p.header["index"]] = (ins, outs)
        for dst, v in zip(args[n_in:], outs):
            dst.copyfrom(np.ascontiguousarray(v, np.float32))

    def _say(self, line: str) -> None:
        if not self.quiet:
            print(line, file=sys.stderr, flush=True)

    def _target(self, header: dict):
        return target_of(header["dpu"])

    def _start_from_build(self, header: dict) -> None:
        """At the first partition call: use a carried build, else a finished build in the build folder."""
        target = self._target(header)
        if self._carried is not None:
            folder = Path(tempfile.mkdtemp(prefix="vai_tvm-carried-"))
            weakref.finalize(self, shutil.rmtree, str(folder), True)
            unpack_build(self._carried, folder)
            meta = read_build(folder, header["model_key"], target)
            if meta is None:
                raise VaiTvmError("the library's DPU build has no meta.json; export the library again")
            self._use_build(folder, meta)
            self._say(f"vai_tvm: DPU partitions from the library ({len(meta['partitions'])}), on the emulator")
            return
        meta = read_build(self.build_dir, header["model_key"], target)
        if meta is not None:
            self._use_build(self.build_dir, meta)
            attach_build(self._mod, pack_build(self.build_dir, meta))
            self._say(f"vai_tvm: finished build in {self.build_dir}: DPU partitions on the emulator from the first run")

    def _use_build(self, folder: Path, meta: dict) -> None:
        import vairun
        from vairun.errors import VairunError
        for entry in meta["partitions"]:
            p = self.parts.get(entry["index"])
            if p is None:
                p = self.parts[entry["index"]] = _Partition(dict(entry), b"")   # runs on the DPU only
            try:
                p.runner = vairun.GraphRunner(str(folder / entry["compiled"]))
            except VairunError as e:
                raise VaiTvmError(f"{folder / entry['compiled']}: {e}") from None
            p.output_order = output_order(p.runner, len(entry["outputs"]))
        self.build_meta = meta
        self.switched = True

    def _switch(self) -> None:
        t0 = time.perf_counter()
        parts = [self.parts[i] for i in sorted(self.parts)]
        headers = [p.header for p in parts]
        if len(parts) != headers[0]["partitions"]:
            raise VaiTvmError(f"{len(parts)} of the model's {headers[0]['partitions']} DPU partitions ran; "
                              "cannot quantize the others")
        target = self._target(headers[0])
        self._say(f"vai_tvm: {self.runs} calibration runs recorded; quantizing and compiling "
                  f"{len(parts)} DPU partition(s) for {headers[0]['dpu']} into {self.build_dir}")
        with torch_threads():
            write_build(self.build_dir, headers, [p.onnx for p in parts],
                        {p.header["index"]: p.recorded for p in parts}, target, self.quant_size, log=self._say)
        meta = read_build(self.build_dir, headers[0]["model_key"], target)
        self._use_build(self.build_dir, meta)
        attach_build(self._mod, pack_build(self.build_dir, meta))
        for p in parts:
            p.recorded = []
        self.switch_seconds = time.perf_counter() - t0
        self._say(f"vai_tvm: switched to the DPU after {self.runs} runs ({self.switch_seconds:.1f} s to quantize "
                  "and compile); DPU partitions now run on the emulator")
