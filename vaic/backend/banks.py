"""The target's on-chip banks as the backend uses them, and the row layout of image tiles.

Rules (docs/isa.md §4.2-4.5):
- Image banks form lane blocks of PP consecutive bank ids (an image group of ``k*PP`` banks is ``k``
  lane blocks). A tile of image rows lives in one lane block; every bank of the block holds the same
  line range of the tile (a :class:`Region`).
- Tile rows follow the row placement rule with group ``g`` (the reading instruction's stride_h) and
  phase 0 from lane 0: row ``r`` is in lane ``r // g``, bank ``lane mod PP``, line
  ``base + (lane // PP) * g * J + (r mod g) * J`` where ``J`` (``row_lines``) is the row's size in
  lines; pixel ``x``, channel group ``c`` of the row is at ``+ x * pixel_lines + c``.
  Instructions then address any run of tile rows with explicit sweep bases (at most four).
- Conv weights use the same lines of all OCP weights banks; biases the bias bank (on targets without
  one, the top of the first weights bank, which the weights area then leaves free); depthwise
  weights the first depthwise bank, read as a byte array.
"""
from __future__ import annotations

from dataclasses import dataclass

from xir.isa import field_slot
from xir.isa.bankmap import BankMap

#: field limit of jump_read_endl / jump_write_endl / jump_read (the ISA's field definition)
JUMP_MAX = field_slot("CONVINIT", "jump_read_endl").hi
MAX_SWEEPS = 4


@dataclass(frozen=True)
class Region:
    """Lines ``[base, base + lines)`` in every bank of the lane block starting at bank ``first``."""
    first: int
    base: int
    lines: int


@dataclass(frozen=True)
class TileLayout:
    """Rows of an image tile placed in a region (see the module rule)."""
    region: Region
    pp: int
    group: int          # g: rows per bank slot
    row_lines: int      # J: lines between rows of one slot (>= the row's size)
    pixel_lines: int    # lines per pixel (jump_read / jump_write)
    rows: int

    @staticmethod
    def lines_needed(rows: int, group: int, row_lines: int, pp: int) -> int:
        lanes = -(-rows // group)
        return -(-lanes // pp) * group * row_lines

    def place(self, r: int) -> tuple[int, int]:
        """(bank id, line of pixel 0) of tile row ``r``."""
        g, pp = self.group, self.pp
        lane = r // g
        return (self.region.first + lane % pp,
                self.region.base + (lane // pp) * g * self.row_lines + (r % g) * self.row_lines)

    def read(self, r0: int, nrows: int) -> dict | None:
        """Read-placement fields of an instruction whose input tile row 0 is tile row ``r0`` and which
        reads ``nrows`` stored rows: bank_id_in, phase and sweep bases; None if it needs more than
        four sweeps."""
        g, pp = self.group, self.pp
        lane0 = r0 // g
        phase = r0 % g
        first_lane = lane0 % pp
        sweeps = (first_lane + (phase + max(nrows, 1) - 1) // g) // pp + 1
        if sweeps > MAX_SWEEPS:
            return None
        s0 = lane0 // pp
        step = g * self.row_lines
        bases = [self.region.base + (s0 + k) * step if k < sweeps else 0 for k in range(MAX_SWEEPS)]
        return {"bank_id_in": self.region.first + first_lane, "phase": phase, "bases": bases}

    def write(self, k0: int) -> tuple[int, int]:
        """(bank_id_out, bank_addr_out) of output row ``k0`` of a tile written with group 1."""
        return self.place(k0)

    @property
    def endl(self) -> int:
        """The jump_*_endl field: J when it fits the 10-bit field, else 0 (callers then guarantee that
        no instruction needs it: g = 1 reads use explicit bases, writes stay in one sweep)."""
        return self.row_lines if self.row_lines <= JUMP_MAX else 0


class Banks(BankMap):
    """Bank groups of a target as the backend allocates them (the geometry is xir.isa.bankmap's)."""

    def groups_of(self, channels: int) -> int:
        """Channel groups (image lines) a pixel of ``channels`` channels takes."""
        return -(-channels // self.icp)

    def allocate(self, sizes: list[int], rotate: int = 0) -> list[Region] | None:
        """Place buffers of ``sizes`` lines (per bank) in the lane blocks, first fit, largest first;
        ``rotate`` turns the order of lane blocks tried (so consecutive layers alternate). None if
        they do not fit."""
        n = len(self.lane_blocks)
        order = [self.lane_blocks[(i + rotate) % n] for i in range(n)]
        used = [0] * n
        out: list[Region | None] = [None] * len(sizes)
        for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
            for k, (first, depth) in enumerate(order):
                if used[k] + sizes[i] <= depth:
                    out[i] = Region(first, used[k], sizes[i])
                    used[k] += sizes[i]
                    break
            else:
                return None
        return out  # type: ignore[return-value]
