"""LOAD and SAVE as the reference executor runs them: one row of pixels between DDR and a bank."""

from __future__ import annotations

import numpy as np

from xir.isa import PadMode

from .banks import Pixels
from .faults import fault


def load(m, op) -> None:
    """LOAD (docs/isa.md §5.2): "Copies one row of `length` pixels from DDR into bank `bank_id` (and,
    with `broadcast = n`, also into banks `bank_id + 1 .. bank_id + n`, at the same lines). Pixel `p`
    goes to line `bank_addr + p * jump_write`." The first `pad_start` and last `pad_end` pixels are
    padding (CONST: `const_value`; EDGE: the nearest DDR pixel); "the other pixels are DDR pixels
    `q = p - pad_start`, each `channel` bytes at `base(reg_id) + ddr_addr + q * jump_read`";
    "`pad_idx` channels with value `const_value` are appended after the `channel` channels of every
    pixel"; bytes of the last line beyond them are left unchanged."""
    length, ps, pe, channel = op["length"], op["pad_start"], op["pad_end"], op["channel"]
    if ps + pe > length:
        raise fault(f"pad_start {ps} + pad_end {pe} exceeds length {length}")
    ddr_pixels = length - ps - pe
    edge = op["mode_avg"] == PadMode.EDGE
    if edge and ddr_pixels == 0:
        raise fault("EDGE padding copies the nearest DDR pixel, but this row reads no DDR pixel")
    nbytes = channel + op["pad_idx"]
    # destinations: every bank is checked before anything is written
    banks, targets = m.banks, []
    for b in range(op["bank_id"], op["bank_id"] + op["broadcast"] + 1):
        gi = banks.locate(b, "LOAD destination")
        last = op["bank_addr"] + (length - 1) * op["jump_write"] + -(-nbytes // banks.groups[gi].width) - 1
        banks.check_lines(b, op["bank_addr"], last, "LOAD destination")
        starts = banks.global_line(b, op["bank_addr"]) + np.arange(length) * op["jump_write"]
        targets.append(Pixels(banks, gi, starts, nbytes).check_distinct(banks, "LOAD"))
    # DDR pixels (one copy for a register shared by the batch, else one per image)
    buf = m.ddr.get(op["reg_id"], "LOAD")
    byte = op["ddr_addr"] + np.arange(ddr_pixels)[:, None] * op["jump_read"] + np.arange(channel)
    if ddr_pixels:
        m.ddr.check(op["reg_id"], buf, op["ddr_addr"], op["ddr_addr"] + (ddr_pixels - 1) * op["jump_read"] + channel - 1,
                    "LOAD")
    ddr = buf[:, byte]                                                   # [1 or B, ddr_pixels, channel]
    pixels = np.full((buf.shape[0], length, nbytes), op["const_value"], dtype=np.int8)
    if edge:
        pixels[:, :, :channel] = ddr[:, np.clip(np.arange(length) - ps, 0, ddr_pixels - 1)]
    else:
        pixels[:, ps:ps + ddr_pixels, :channel] = ddr
    for px in targets:
        px.write(banks, pixels)


def save(m, op) -> None:
    """SAVE (docs/isa.md §5.3): "Copies one row of `length` pixels from bank `bank_id` to DDR: `channel`
    bytes of the pixel at line `bank_addr + p * jump_read` go to `base(reg_id) + ddr_addr + p *
    jump_write`. With `const_en = 1` the bank is not read and every byte written is `const_value`.
    `hp_id` selects the AXI port (0..3); it changes timing only." Saving into a register shared by the
    batch (parameters) is a fault, and so are overlapping DDR pixels."""
    length, channel, banks = op["length"], op["channel"], m.banks
    source = None
    if not op["const_en"]:
        b = op["bank_id"]
        gi = banks.locate(b, "SAVE source")
        last = op["bank_addr"] + (length - 1) * op["jump_read"] + -(-channel // banks.groups[gi].width) - 1
        banks.check_lines(b, op["bank_addr"], last, "SAVE source")
        source = Pixels(banks, gi, banks.global_line(b, op["bank_addr"]) + np.arange(length) * op["jump_read"],
                        channel)
    if length > 1 and op["jump_write"] < channel:
        raise fault(f"SAVE writes {channel} bytes per pixel but steps only {op['jump_write']} bytes in DDR: "
                    f"pixels overlap", address=op["ddr_addr"] + op["jump_write"])
    buf = m.ddr.get(op["reg_id"], "SAVE")
    if m.ddr.shared[op["reg_id"]]:
        raise fault(f"SAVE writes DDR register {op['reg_id']}, which is shared by the batch (CONST data); "
                    f"save into a WORKSPACE or INTERFACE register")
    byte = op["ddr_addr"] + np.arange(length)[:, None] * op["jump_write"] + np.arange(channel)
    last = op["ddr_addr"] + (length - 1) * op["jump_write"] + channel - 1 if length else op["ddr_addr"] - 1
    m.ddr.check(op["reg_id"], buf, op["ddr_addr"], last, "SAVE")
    if source is None:
        buf[:, byte] = op["const_value"]
    else:
        buf[:, byte] = source.read(banks)                               # [B, length, channel]
