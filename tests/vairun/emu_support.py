"""Helpers of the emulator tests: build LOAD -> compute -> SAVE streams the way a code generator
would, placing rows with the xir.isa addressing helpers, and read results back from DDR."""

from __future__ import annotations

import numpy as np

from xir.isa import Engine, input_row_slots, make, output_row_slots

IN_REG, OUT_REG, PARAM_REG = 0, 1, 2


def engine_bit(name: str) -> int:
    return 1 << Engine[name]


def load_rows(banks, lines, *, jump: int, first_row: int, width_px: int, channels: int,
              reg_id: int = IN_REG, ddr_base: int = 0):
    """One LOAD per tile row: DDR rows ``first_row + t`` of an NHWC image (``width_px`` pixels of
    ``channels`` bytes, rows contiguous) to bank ``banks[t]`` line ``lines[t]``."""
    out = []
    for t, (b, line) in enumerate(zip(banks, lines)):
        out.append(make("LOAD", bank_id=int(b), bank_addr=int(line), length=width_px, channel=channels,
                        jump_read=channels, jump_write=jump, reg_id=reg_id,
                        ddr_addr=ddr_base + (first_row + t) * width_px * channels))
    return out


def save_rows(banks, lines, *, jump: int, length: int, channels: int, reg_id: int = OUT_REG, ddr_base: int = 0):
    """One SAVE per output row k: ``length`` pixels of ``channels`` bytes to DDR row k (NHWC)."""
    return [make("SAVE", bank_id=int(b), bank_addr=int(line), length=length, channel=channels, jump_read=jump,
                 jump_write=channels, reg_id=reg_id, ddr_addr=ddr_base + k * length * channels)
            for k, (b, line) in enumerate(zip(banks, lines))]


def load_bytes(bank_id: int, line: int, *, offset: int, nbytes: int, reg_id: int = PARAM_REG):
    """One LOAD of ``nbytes`` consecutive DDR bytes into bank ``bank_id`` from line ``line`` on."""
    return make("LOAD", bank_id=bank_id, bank_addr=line, length=1, channel=nbytes, jump_read=nbytes,
                jump_write=1, reg_id=reg_id, ddr_addr=offset)


def chain(loads, compute, saves, engine: str):
    """loads -> compute (on ``engine``) -> saves -> END, with the minimal token chain."""
    loads, compute, saves = list(loads), list(compute), list(saves)
    loads[-1].dpdby |= engine_bit(engine)
    compute[0].dpdon |= engine_bit("LOAD")
    compute[-1].dpdby |= engine_bit("SAVE")
    saves[0].dpdon |= engine_bit(engine)
    return loads + compute + saves + [make("END")]


def input_slots(init, op, tile_rows: int, pp: int):
    return input_row_slots(init, op, np.arange(tile_rows), pp=pp)


def output_slots(init, op, rows: int, pp: int):
    return output_row_slots(init, op, np.arange(rows), pp=pp)


def flat(x: np.ndarray) -> np.ndarray:
    """NHWC int array -> int8 [batch, bytes]."""
    return np.ascontiguousarray(x.astype(np.int8)).reshape(x.shape[0], -1)


def fill_garbage(machine, rng) -> None:
    """Fill every bank of every image with random bytes, so unwritten or masked bytes show."""
    for g in machine.target.banks:
        for b in g.ids:
            view = machine.bank(b)
            view[...] = rng.integers(-128, 128, size=view.shape, dtype=np.int8)


def rand_q(rng, shape, lo=-128, hi=127):
    return rng.integers(lo, hi + 1, size=shape).astype(np.int64)
