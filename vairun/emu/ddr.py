"""The DDR side of the machine: eight base registers, each a byte buffer (docs/isa.md §4.1).

Rules enforced here:

* CONST data (parameters) is shared by the whole batch: one buffer. WORKSPACE and INTERFACE
  registers hold one buffer per image.
* Every access must fall inside its register; an access outside it, or to a register that was never
  set, is a fault.
"""

from __future__ import annotations

import numpy as np

from .faults import fault


class Ddr:
    """The eight DDR base registers, each a byte buffer (shared by the batch, or one per image)."""

    COUNT = 8

    def __init__(self, batch: int):
        self.batch = batch
        self.regs: dict[int, np.ndarray] = {}
        self.shared: dict[int, bool] = {}

    def set(self, reg_id: int, data, shared: bool) -> None:
        """Store a register's bytes. Shared data is one buffer ``[size]``; per-image data is
        ``[batch, size]`` (a single ``[size]`` buffer is copied to every image)."""
        if not 0 <= int(reg_id) < self.COUNT:
            raise ValueError(f"reg_id must be 0..{self.COUNT - 1}, got {reg_id}")
        if isinstance(data, (bytes, bytearray, memoryview)):
            arr = np.frombuffer(bytes(data), dtype=np.int8)
        else:
            arr = np.asarray(data)
            if arr.dtype.itemsize != 1 or arr.dtype.kind not in "iub":
                raise ValueError(f"register data must be bytes or a 1-byte integer array, got dtype {arr.dtype}")
            arr = arr.view(np.int8)
        if shared:
            buf = np.array(arr.reshape(1, -1), dtype=np.int8)
        elif arr.ndim == 1:
            buf = np.repeat(arr.reshape(1, -1), self.batch, axis=0)
        elif arr.ndim == 2 and arr.shape[0] == self.batch:
            buf = np.array(arr, dtype=np.int8)
        else:
            raise ValueError(f"per-image register data must be [size] or [batch={self.batch}, size], "
                             f"got shape {arr.shape}")
        self.regs[int(reg_id)] = buf
        self.shared[int(reg_id)] = bool(shared)

    def get(self, reg_id: int, what: str) -> np.ndarray:
        """The buffer ``[1 or batch, size]`` of a register; a fault when it was never set."""
        buf = self.regs.get(reg_id)
        if buf is None:
            raise fault(f"{what} uses DDR register {reg_id}, which holds no buffer (set it with set_reg)")
        return buf

    def check(self, reg_id: int, buf: np.ndarray, first: int, last: int, what: str) -> None:
        """Fault unless bytes ``first .. last`` lie inside register ``reg_id``."""
        size = buf.shape[1]
        if last >= size:
            raise fault(f"{what} touches DDR bytes {first}..{last} of register {reg_id}, which holds "
                        f"{size} bytes", address=max(first, size))
