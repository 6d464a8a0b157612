"""LOAD (DDR -> banks) and SAVE (bank -> DDR), docs/isa.md §5.2, §5.3: one row of pixels each.

The fast executor's version: the rules are the reference executor's (vairun/emu/load_save.py, which
quotes docs/isa.md), and the results and faults are the same (tests/vairun/test_emu_reference.py);
this module computes them with plans checked once per distinct instruction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xir.isa import PadMode

from ..faults import fault
from ..banks import Pixels
from .moves import Runs
from .plans import planned


@dataclass(slots=True)
class LoadPlan:
    """A checked LOAD: DDR source geometry, padding map and destination pixels per bank group."""

    reg_id: int
    ddr_addr: int
    length: int
    ddr_pixels: int
    channel: int
    jump_read: int
    contiguous: bool
    ddr_idx: np.ndarray | None    # byte offsets [ddr_pixels * channel] when not contiguous
    ddr_last: int
    simple: bool                  # no padding pixels and no appended channels
    pad_start: int
    edge_map: np.ndarray | None   # EDGE: DDR pixel of every pixel
    const_value: int
    nbytes: int
    targets: tuple[Pixels, ...]


@dataclass(slots=True)
class SavePlan:
    """A checked SAVE: source pixels (or a constant) and DDR destination geometry."""

    reg_id: int
    ddr_addr: int
    length: int
    channel: int
    jump_write: int
    contiguous: bool
    ddr_idx: np.ndarray | None
    ddr_last: int
    const: bool
    const_value: int
    source: Pixels | None


def _ddr_geometry(ddr_addr: int, pixels: int, channel: int, jump: int):
    contiguous = jump == channel
    idx = None
    if not contiguous and pixels:
        idx = (ddr_addr + np.arange(pixels, dtype=np.int64)[:, None] * jump
               + np.arange(channel, dtype=np.int64)).ravel()
    last = ddr_addr + (pixels - 1) * jump + channel - 1 if pixels else ddr_addr - 1
    return contiguous, idx, last


def execute_load(m, op) -> LoadPlan:
    """LOAD: read the DDR pixels, add padding pixels and appended channels, write the bank(s)."""
    key = ("LOAD", tuple(op.fields.values()))
    plan = planned(m, key, lambda: _plan_load(m, op))
    _run_load(m, plan)
    return plan


def _plan_load(m, op) -> LoadPlan:
    length, ps, pe = op["length"], op["pad_start"], op["pad_end"]
    channel, extra = op["channel"], op["pad_idx"]
    if ps + pe > length:
        raise fault(f"pad_start {ps} + pad_end {pe} exceeds length {length}")
    nd = length - ps - pe
    edge = op["mode_avg"] == PadMode.EDGE
    if edge and nd == 0:
        raise fault("EDGE padding copies the nearest DDR pixel, but this row reads no DDR pixel")
    nbytes = channel + extra
    banks = m.banks
    by_group: dict[int, list[int]] = {}
    for b in range(op["bank_id"], op["bank_id"] + op["broadcast"] + 1):
        by_group.setdefault(banks.locate(b, "LOAD destination"), []).append(b)
    targets = []
    for gi, ids in by_group.items():
        nl = -(-nbytes // banks.groups[gi].width)
        last = op["bank_addr"] + (length - 1) * op["jump_write"] + nl - 1
        for b in ids:
            banks.check_lines(b, op["bank_addr"], last, "LOAD destination")
        starts = (np.array([banks.global_line(b, op["bank_addr"]) for b in ids], dtype=np.int64)[:, None]
                  + np.arange(length, dtype=np.int64) * op["jump_write"])
        targets.append(Pixels(banks, gi, starts, nbytes).check_distinct(banks, "LOAD"))
    contiguous, idx, last = _ddr_geometry(op["ddr_addr"], nd, channel, op["jump_read"])
    edge_map = None
    if edge and nd < length:
        edge_map = np.clip(np.arange(length) - ps, 0, nd - 1)
    return LoadPlan(op["reg_id"], op["ddr_addr"], length, nd, channel, op["jump_read"], contiguous, idx, last,
                    nd == length and extra == 0, ps, edge_map, op["const_value"], nbytes, tuple(targets))


def _run_load(m, p: LoadPlan) -> None:
    buf = m.ddr.get(p.reg_id, "LOAD")
    if p.ddr_pixels:
        m.ddr.check(p.reg_id, buf, p.ddr_addr, p.ddr_last, "LOAD")
    bs = buf.shape[0]
    if p.contiguous:
        src = buf[:, p.ddr_addr:p.ddr_addr + p.ddr_pixels * p.channel].reshape(bs, p.ddr_pixels, p.channel)
    else:
        src = np.take(buf, p.ddr_idx, axis=1).reshape(bs, p.ddr_pixels, p.channel) if p.ddr_pixels else None
    if p.simple:
        pix = src
    else:
        pix = np.full((bs, p.length, p.nbytes), p.const_value, dtype=np.int8)
        if p.edge_map is not None:
            pix[:, :, :p.channel] = np.take(src, p.edge_map, axis=1)
        elif p.ddr_pixels:
            pix[:, p.pad_start:p.pad_start + p.ddr_pixels, :p.channel] = src
    for px in p.targets:
        px.write(m.banks, pix)


def execute_save(m, op) -> SavePlan:
    """SAVE: read pixels from the bank (or take the constant) and write them to DDR."""
    key = ("SAVE", tuple(op.fields.values()))
    plan = planned(m, key, lambda: _plan_save(m, op))
    _run_save(m, plan)
    return plan


def _plan_save(m, op) -> SavePlan:
    length, channel = op["length"], op["channel"]
    const = bool(op["const_en"])
    source = None
    if not const:
        banks = m.banks
        b = op["bank_id"]
        gi = banks.locate(b, "SAVE source")
        nl = -(-channel // banks.groups[gi].width)
        banks.check_lines(b, op["bank_addr"], op["bank_addr"] + (length - 1) * op["jump_read"] + nl - 1,
                          "SAVE source")
        starts = banks.global_line(b, op["bank_addr"]) + np.arange(length, dtype=np.int64) * op["jump_read"]
        source = Pixels(banks, gi, starts, channel)
    if length > 1 and op["jump_write"] < channel:
        raise fault(f"SAVE writes {channel} bytes per pixel but steps only {op['jump_write']} bytes in DDR: "
                    f"pixels overlap", address=op["ddr_addr"] + op["jump_write"])
    contiguous, idx, last = _ddr_geometry(op["ddr_addr"], length, channel, op["jump_write"])
    return SavePlan(op["reg_id"], op["ddr_addr"], length, channel, op["jump_write"], contiguous, idx, last, const,
                    op["const_value"], source)


def _run_save(m, p: SavePlan) -> None:
    buf = m.ddr.get(p.reg_id, "SAVE")
    if m.ddr.shared[p.reg_id]:
        raise fault(f"SAVE writes DDR register {p.reg_id}, which is shared by the batch (CONST data); "
                    f"save into a WORKSPACE or INTERFACE register")
    m.ddr.check(p.reg_id, buf, p.ddr_addr, p.ddr_last, "SAVE")
    if p.const:
        vals = np.full((1, p.length * p.channel), p.const_value, dtype=np.int8)
    else:
        vals = p.source.read(m.banks).reshape(m.batch, -1)
    if p.contiguous:
        buf[:, p.ddr_addr:p.ddr_addr + p.length * p.channel] = vals
    else:
        buf[:, p.ddr_idx] = vals


# ------------------------------------------------------------------ as byte runs (fused moves)


def load_runs(m, p: LoadPlan) -> list[tuple[int, Runs]]:
    """The LOAD as byte runs from its DDR register into each destination group: ``(group, runs)``.
    Source offsets are bytes of the register; destination offsets bytes of the group (per image)."""
    pix = np.arange(p.length, dtype=np.int64)
    if p.edge_map is not None:
        ddr_pixel = p.edge_map.astype(np.int64)
    else:
        ddr_pixel = pix - p.pad_start
    from_ddr = (ddr_pixel >= 0) & (ddr_pixel < p.ddr_pixels)
    src = np.where(from_ddr, p.ddr_addr + ddr_pixel * p.jump_read, -1)
    value = np.where(from_ddr, 0, p.const_value)
    extra = p.nbytes - p.channel
    out = []
    for px in p.targets:
        dst = px.starts * px.width  # [banks, length]
        runs = [Runs.of(dst, src, p.channel, value)]
        if extra:
            runs.append(Runs.of(dst + p.channel, -1, extra, p.const_value))
        out.append((px.gi, Runs.concat(runs)))
    return out


def save_runs(m, p: SavePlan) -> Runs:
    """The SAVE as byte runs into its DDR register, from the source group (``p.source.gi``) or
    constant."""
    dst = p.ddr_addr + np.arange(p.length, dtype=np.int64) * p.jump_write
    if p.const:
        return Runs.of(dst, -1, p.channel, p.const_value)
    return Runs.of(dst, p.source.starts * p.source.width, p.channel)
