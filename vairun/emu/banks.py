"""The on-chip bank groups of the target, and the pixel sets instructions move in and out of them.

Rules enforced here (docs/isa.md §4.2):

* Every bank group of the target exists once per image: ``count`` banks of ``depth`` lines of
  ``width`` bytes, addressed by global bank id. A bank id the target does not have, or a line at or
  beyond the bank's depth, is a fault; addresses never wrap.
* Channel ``k`` of a pixel based at line ``L`` is byte ``k mod width`` of line ``L + k div width``.
* One instruction never writes a bank location twice (overlapping pixels are a fault).

Storage: one int8 array per group, ``[batch, count * depth + 2 * SENTINEL, width]``; bank ``j`` of
the group is lines ``j * depth .. (j + 1) * depth - 1`` (its "global line" in the group). The extra
lines at the end are read-only sentinels that compute instructions gather for their virtual padding:
SENTINEL ZERO lines (all 0) and SENTINEL MIN lines (all -128, max pooling), one per channel group a
padding pixel can span. No instruction can address them, because every bank line is checked against
the bank's depth.
"""

from __future__ import annotations

import numpy as np

from .faults import fault

#: Sentinel lines of each kind per group: the largest channel_group (256 lines per pixel).
SENTINEL = 256


class Banks:
    """The on-chip banks of one target, one copy per image of the batch."""

    def __init__(self, target, batch: int):
        self.groups = tuple(sorted(target.banks, key=lambda g: g.first_id))
        self.batch = batch
        last = max(g.last_id for g in self.groups)
        self.group_of = [-1] * (last + 1)
        self.local_of = [0] * (last + 1)
        for gi, g in enumerate(self.groups):
            for j, bank_id in enumerate(g.ids):
                self.group_of[bank_id] = gi
                self.local_of[bank_id] = j
        self.image = tuple(g.kind == "image" for g in self.groups)
        self.data = [np.zeros((batch, g.count * g.depth + 2 * SENTINEL, g.width), dtype=np.int8)
                     for g in self.groups]
        # the same memory seen as whole lines: [batch, lines] of one opaque width-byte item each
        self.lines = [d.reshape(batch, -1).view(np.dtype((np.void, g.width))) for g, d in zip(self.groups, self.data)]
        # and as flat bytes: [batch, lines * width]
        self.flat = [d.reshape(batch, -1) for d in self.data]
        # bumped on every write into a group, so derived data (im2col blocks, float weights) can be reused
        self.version = [0] * len(self.groups)
        self.reset()

    def reset(self) -> None:
        """Zero every bank line and restore the sentinel lines of every group."""
        self.touch_all()
        for g, d in zip(self.groups, self.data):
            d.fill(0)
            d[:, g.count * g.depth + SENTINEL:, :] = -128

    def part(self, lo: int, hi: int) -> "Banks":
        """The banks of images ``lo .. hi - 1`` (views of the same memory, own version counters):
        what a thread executing those images sees."""
        view = Banks.__new__(Banks)
        view.__dict__.update(self.__dict__)
        view.batch = hi - lo
        view.data = [d[lo:hi] for d in self.data]
        view.lines = [x[lo:hi] for x in self.lines]
        view.flat = [x[lo:hi] for x in self.flat]
        view.version = list(self.version)
        return view

    def touch_all(self) -> None:
        """Mark every group as changed (its derived data must be recomputed)."""
        self.version = [v + 1 for v in self.version]

    # ------------------------------------------------------------ addressing

    def zero_line(self, gi: int) -> int:
        """First global line (in group ``gi``) of the all-zero sentinels used for padding."""
        g = self.groups[gi]
        return g.count * g.depth

    def min_line(self, gi: int) -> int:
        """First global line (in group ``gi``) of the all -128 sentinels used for max-pool padding."""
        return self.zero_line(gi) + SENTINEL

    def locate(self, bank_id: int, what: str) -> int:
        """The group index of ``bank_id``; a fault when the target has no such bank."""
        if 0 <= bank_id < len(self.group_of) and self.group_of[bank_id] >= 0:
            return self.group_of[bank_id]
        raise fault(f"{what} names bank {bank_id}, which the target does not have (bank ids: "
                    f"{', '.join(f'{g.name} {g.first_id}..{g.last_id}' for g in self.groups)})", bank=bank_id)

    def check_lines(self, bank_id: int, first: int, last: int, what: str) -> None:
        """Fault unless lines ``first .. last`` all lie inside bank ``bank_id``."""
        depth = self.groups[self.locate(bank_id, what)].depth
        if first < 0 or last >= depth:
            bad = first if first < 0 else max(first, depth)
            raise fault(f"{what} reaches line {last} of bank {bank_id}, whose depth is {depth} lines "
                        f"(lines {first}..{last} needed; addresses never wrap)", bank=bank_id, address=bad)

    def image_rows(self, first_bank: int, banks, lines, last_offset: int, what: str) -> tuple[int, np.ndarray]:
        """Check rows of a compute block (``first_bank`` is the bank of row 0): every bank an image bank
        of one group, and every row's lines ``line .. line + last_offset`` inside its bank. Returns the
        group index and the global line of each row's pixel 0."""
        banks = [int(b) for b in banks]
        lines = np.asarray(lines, dtype=np.int64)
        gi = self.locate_image(first_bank, what)
        for b in banks:
            if self.locate_image(b, what) != gi:
                raise fault(f"{what} spans image groups {self.groups[gi].name} and "
                            f"{self.groups[self.group_of[b]].name}; a block's rows must share one lane block",
                            bank=b)
        depth = self.groups[gi].depth
        last = lines + last_offset
        over = np.nonzero(last >= depth)[0]
        if over.size:
            r = int(over[0])
            raise fault(f"{what}: row {r} in bank {banks[r]} needs lines {int(lines[r])}..{int(last[r])} but the "
                        f"bank has {depth} lines (addresses never wrap)", bank=banks[r],
                        address=max(int(lines[r]), depth))
        local = np.array([self.local_of[b] for b in banks], dtype=np.int64)
        return gi, local * depth + lines

    def locate_image(self, bank_id: int, what: str) -> int:
        """The group index of an image bank; a fault for a missing or non-image bank."""
        gi = self.locate(bank_id, what)
        if not self.image[gi]:
            g = self.groups[gi]
            raise fault(f"{what} uses bank {bank_id} of {g.kind} group {g.name} for image rows; compute "
                        f"instructions read and write image banks only", bank=bank_id)
        return gi

    def global_line(self, bank_id: int, line: int) -> int:
        """The global line (in its group) of ``line`` of bank ``bank_id`` (bank assumed valid)."""
        g = self.groups[self.group_of[bank_id]]
        return self.local_of[bank_id] * g.depth + line

    def byte_span(self, bank_id: int, start_line: int, count: int, what: str) -> tuple[int, int, int]:
        """Check an implicit byte-array read (biases, depthwise weights, PRELU slopes): ``count`` bytes of
        bank ``bank_id`` from the first byte of ``start_line``. Returns ``(group, global line, count)``
        for :meth:`read_span`."""
        gi = self.locate(bank_id, what)
        nlines = max(-(-count // self.groups[gi].width), 1)
        self.check_lines(bank_id, start_line, start_line + nlines - 1, what)
        return gi, self.global_line(bank_id, start_line), count

    def read_span(self, span: tuple[int, int, int]) -> np.ndarray:
        """The bytes of a checked span, int8 ``[batch, count]``."""
        gi, first, count = span
        width = self.groups[gi].width
        nlines = max(-(-count // width), 1)
        return self.data[gi][:, first:first + nlines, :].reshape(self.batch, -1)[:, :count]

    def lines_view(self, gi: int) -> np.ndarray:
        """Group ``gi`` as ``[batch, count, depth, width]`` (a view without the sentinel lines)."""
        g = self.groups[gi]
        return self.data[gi][:, :g.count * g.depth, :].reshape(self.batch, g.count, g.depth, g.width)

    def bank_view(self, bank_id: int) -> np.ndarray:
        """The lines of one bank, ``[batch, depth, width]`` (a view: writes change the bank)."""
        gi = self.locate(bank_id, "bank_view")
        self.version[gi] += 1
        g = self.groups[gi]
        first = self.local_of[bank_id] * g.depth
        return self.data[gi][:, first:first + g.depth, :]


class Pixels:
    """Where a set of pixels of ``nbytes`` bytes each live in one bank group.

    Channel ``k`` of a pixel based at line ``L`` is byte ``k mod width`` of line ``L + k div width``
    (docs/isa.md §4.2). When ``nbytes`` is a multiple of the width the pixels are moved as whole lines;
    otherwise byte by byte, so the bytes of a last, partial line beyond ``nbytes`` stay unchanged.
    ``starts`` holds the global line of every pixel (any shape); reads return
    ``[batch, *starts.shape, nbytes]``.
    """

    __slots__ = ("gi", "whole", "idx", "shape", "nbytes", "width", "starts")

    def __init__(self, banks: Banks, gi: int, starts: np.ndarray, nbytes: int):
        width = banks.groups[gi].width
        starts = np.asarray(starts, dtype=np.int64)
        self.gi, self.shape, self.nbytes, self.width, self.starts = gi, starts.shape, nbytes, width, starts
        self.whole = nbytes % width == 0
        if self.whole:
            idx = starts[..., None] + np.arange(nbytes // width, dtype=np.int64)
        else:
            idx = starts[..., None] * width + np.arange(nbytes, dtype=np.int64)
        self.idx = idx.ravel()

    def check_distinct(self, banks: Banks, what: str) -> "Pixels":
        """Fault when two of the pixels would write the same line (or byte): one instruction never
        writes a location twice, so overlapping pixels are a stream error, not a last-one-wins."""
        if self.idx.size > 1:
            order = np.sort(self.idx)
            dup = np.nonzero(order[1:] == order[:-1])[0]
            if dup.size:
                g = banks.groups[self.gi]
                line = int(order[dup[0]]) // (1 if self.whole else g.width)
                bank_id, addr = g.first_id + line // g.depth, line % g.depth
                raise fault(f"{what} writes line {addr} of bank {bank_id} more than once (pixels overlap: "
                            f"the jumps are smaller than the lines a pixel spans)", bank=bank_id, address=addr)
        return self

    def lines(self) -> np.ndarray:
        """The global lines the pixels touch (whole or in part), sorted, without repeats."""
        return np.unique(self.idx if self.whole else self.idx // self.width)

    def touches(self, lines: np.ndarray) -> bool:
        """Whether any of the pixels' lines is in ``lines`` (sorted global lines of the same group)."""
        if not lines.size:
            return False
        mine = self.idx if self.whole else self.idx // self.width
        pos = np.searchsorted(lines, mine)
        return bool(np.any(lines[np.minimum(pos, lines.size - 1)] == mine))

    def read(self, banks: Banks) -> np.ndarray:
        """The pixels' bytes, int8 ``[batch, *shape, nbytes]``."""
        b = banks.batch
        if self.whole:
            got = np.take(banks.lines[self.gi], self.idx, axis=1).view(np.int8)
        else:
            got = np.take(banks.data[self.gi].reshape(b, -1), self.idx, axis=1)
        return got.reshape((b,) + self.shape + (self.nbytes,))

    def write(self, banks: Banks, values: np.ndarray) -> None:
        """Store ``values`` (int8 ``[1 or batch, *shape, nbytes]``, or with leading axes of ``shape``
        left out to give every one of them the same bytes) at the pixels."""
        full = (values.shape[0],) + self.shape + (self.nbytes,)
        if values.shape != full:
            missing = len(full) - values.ndim
            values = values.reshape(values.shape[:1] + (1,) * missing + values.shape[1:])
            if values.shape != full:
                values = np.broadcast_to(values, full)
        values = np.ascontiguousarray(values, dtype=np.int8).reshape(full[0], -1)
        banks.version[self.gi] += 1
        if self.whole:
            banks.lines[self.gi][:, self.idx] = values.view(banks.lines[self.gi].dtype)
        else:
            banks.data[self.gi].reshape(banks.batch, -1)[:, self.idx] = values
