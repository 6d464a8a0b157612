"""The DDR side of the machine: eight base registers, each a byte buffer (docs/isa.md §4.1).

Rules enforced here:

* CONST data (parameters) is shared by the whole batch: one buffer. WORKSPACE and INTERFACE
  registers hold one buffer per image.
* Every access must fall inside its register; an access outside it, or to a register that was never
  set, is a fault.

Every shared register carries a *token* that changes whenever its contents may have changed (no
contract rule: derived data, such as the float weight matrices of fused CONVs, is cached under the
tokens). Setting a shared register to the bytes it already holds keeps the buffer and the token:
recognised without reading when the new data is the same immutable ``bytes`` object (or a view of
it) as last time, else by comparing the contents.
"""

from __future__ import annotations

import itertools

import numpy as np

from .faults import fault

_tokens = itertools.count(1)


def _immutable_source(arr: np.ndarray):
    """``(bytes object, address, size)`` when ``arr``'s memory belongs to an immutable bytes object,
    else None."""
    root = arr
    while isinstance(root, np.ndarray) and root.base is not None:
        root = root.base
    if not isinstance(root, bytes):
        return None
    return root, arr.__array_interface__["data"][0], arr.size


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two 1-D int8 arrays hold the same bytes (compared eight at a time)."""
    if a.size != b.size:
        return False
    n8 = a.size - a.size % 8
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return bool(np.array_equal(a[:n8].view(np.uint64), b[:n8].view(np.uint64))
                and np.array_equal(a[n8:], b[n8:]))


class Ddr:
    """The eight DDR base registers, each a byte buffer (shared by the batch, or one per image)."""

    COUNT = 8

    def __init__(self, batch: int):
        self.batch = batch
        self.regs: dict[int, np.ndarray] = {}
        self.shared: dict[int, bool] = {}
        self.token: dict[int, int] = {}
        self._source: dict[int, tuple] = {}

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
            flat = arr.reshape(-1)
            source = _immutable_source(flat)
            old = self.regs.get(int(reg_id)) if self.shared.get(int(reg_id)) else None
            if old is not None:
                prev = self._source.get(int(reg_id))
                same = (source is not None and prev is not None and source[0] is prev[0]
                        and source[1:] == prev[1:]) or _same_bytes(old[0], flat)
                if same:
                    self._source[int(reg_id)] = source
                    return
            buf = np.array(flat.reshape(1, -1), dtype=np.int8)
            self._source[int(reg_id)] = source
        elif arr.ndim == 1:
            buf = np.repeat(arr.reshape(1, -1), self.batch, axis=0)
        elif arr.ndim == 2 and arr.shape[0] == self.batch:
            buf = np.array(arr, dtype=np.int8)
        else:
            raise ValueError(f"per-image register data must be [size] or [batch={self.batch}, size], "
                             f"got shape {arr.shape}")
        self.regs[int(reg_id)] = buf
        self.shared[int(reg_id)] = bool(shared)
        self.token[int(reg_id)] = next(_tokens)

    def part(self, lo: int, hi: int) -> "Ddr":
        """The registers of images ``lo .. hi - 1`` (views; shared registers as they are)."""
        view = Ddr(hi - lo)
        view.regs = {r: (b if self.shared[r] else b[lo:hi]) for r, b in self.regs.items()}
        view.shared, view.token = self.shared, self.token
        return view

    def const_key(self) -> tuple:
        """The tokens of the shared registers: equal keys mean equal contents of all of them."""
        return tuple(sorted((r, t) for r, t in self.token.items() if self.shared[r]))

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
