"""vairun: run compiled models on a bit-exact, cycle-approximate DPU emulator.

- :class:`GraphRunner` runs a whole compiled graph (DPU subgraphs on the emulator, CPU subgraphs on
  the reference kernels); :class:`Runner` is VART's per-DPU-subgraph runner
  (``Runner.create_runner(subgraph, "run")``, ``execute_async`` / ``wait``);
- :mod:`vairun.emu` is the functional machine model, :mod:`vairun.timing` the cycle model.
"""
from .errors import VairunError
from .runner import GraphRunner, Runner, TensorInfo

__all__ = ["GraphRunner", "Runner", "TensorInfo", "VairunError"]
