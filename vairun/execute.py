"""Running the subgraphs of a compiled model: DPU ones on the emulator, CPU ones on the reference
kernels, on a whole batch at once (the batch is the leading dimension of every tensor).

Rule: values flowing between subgraphs are what the hardware exchanges: int8 NHWC arrays for fixed
tensors (with the tensor's fix_point), float32 for float ones.
"""
from __future__ import annotations

import threading

import numpy as np

import xir
from xir.interp import EXECUTORS
from xir.interp import feed_input as _interp_feed

from .emu import EmulatorFault, Machine
from .emu.fast.accel import KernelsUnavailable
from .errors import VairunError
from .model import DpuPlan


class MachinePool:
    """Warm emulated machines per (DPU subgraph, batch): a machine keeps its cached instruction plans
    between runs; a job borrows one exclusively, so concurrent jobs never share a machine.
    ``reference``: the machines use the reference executor (None: ``VAIRUN_EMU_REFERENCE``)."""

    def __init__(self, reference: bool | None = None):
        self.reference = reference
        self._lock = threading.Lock()
        self._free: dict[tuple[str, int], list[Machine]] = {}

    def take(self, key: tuple[str, int], target) -> Machine:
        with self._lock:
            free = self._free.get(key)
            if free:
                return free.pop()
        return Machine(target, batch=key[1], reference=self.reference)

    def give(self, key: tuple[str, int], m: Machine) -> None:
        with self._lock:
            self._free.setdefault(key, []).append(m)


def run_dpu(plan: DpuPlan, target, values: dict[str, np.ndarray], batch: int, on_instruction=None,
            pool: MachinePool | None = None, reference: bool | None = None) -> None:
    """Execute one DPU subgraph on the emulator; reads its inputs from and writes outputs to ``values``.
    ``reference`` (without a pool): use the reference executor (None: ``VAIRUN_EMU_REFERENCE``)."""
    key = (plan.subgraph.get_name(), batch)
    m = pool.take(key, target) if pool is not None else Machine(target, batch=batch, reference=reference)
    try:
        _run_on(m, plan, values, batch, on_instruction)
    finally:
        if pool is not None:
            pool.give(key, m)


def _run_on(m: Machine, plan: DpuPlan, values, batch: int, on_instruction) -> None:
    m.reset()  # every run starts from zeroed banks, whether the machine is new or reused
    bufs = {reg: np.zeros((batch, size), dtype=np.uint8) for reg, size in plan.reg_sizes.items() if reg != 0}
    for name, (reg, addr, _fp) in plan.inputs.items():
        v = np.ascontiguousarray(values[name]).astype(np.int8, copy=False)
        flat = v.reshape(batch, -1).view(np.uint8)
        bufs[reg][:, addr:addr + flat.shape[1]] = flat
    if 0 in plan.reg_sizes:
        m.set_reg(0, np.frombuffer(plan.const, dtype=np.uint8), shared=True)
    for reg, buf in bufs.items():
        m.set_reg(reg, buf)
    try:
        # the stored bytes: the emulator recognises a stream it ran before by comparing them, which
        # costs far less than comparing decoded instructions (a hook needs the instruction objects)
        program = plan.code if plan.code and on_instruction is None else plan.instructions
        m.run(program, on_instruction=on_instruction)
    except EmulatorFault as e:
        raise VairunError(f"DPU subgraph {plan.subgraph.get_name()}: emulator fault: {e}") from None
    except KernelsUnavailable as e:
        raise VairunError(f"{e}; unset it or use VAIRUN_EMU_KERNELS=numpy") from None
    for name, (reg, addr, _fp) in plan.outputs.items():
        t = plan.subgraph.get_graph().get_tensor(name)
        n = int(np.prod(t.dims[1:]))
        raw = m.get_reg(reg)[:, addr:addr + n]
        values[name] = raw.view(np.int8).reshape((batch,) + tuple(t.dims[1:])).copy()


def run_cpu(sg: xir.Subgraph, values: dict[str, np.ndarray]) -> None:
    """Execute a CPU (or USER) subgraph's ops with the reference kernels."""
    for op in sg.get_ops():
        kind = op.get_type()
        if kind in ("data", "data-fix"):
            continue  # fed by the caller
        if kind in ("const", "const-fix"):
            values[op.get_name()] = op.get_const_data()
            continue
        fn = EXECUTORS.get(kind)
        if fn is None:
            raise VairunError(f"op '{op.get_name()}' ({kind}) has no CPU implementation")
        try:
            values[op.get_name()] = fn(op, values)
        except (ValueError, OverflowError) as e:
            raise VairunError(f"op '{op.get_name()}' ({kind}): {e}") from None


def feed_input(op: xir.Op, value) -> np.ndarray:
    """A graph input: float values are quantized with its fix point (DPU_ROUND), int8 taken as is."""
    try:
        return _interp_feed(op, value)
    except xir.GraphError as e:
        raise VairunError(str(e)) from None
