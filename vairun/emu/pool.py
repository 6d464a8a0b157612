"""POOLINIT and POOL as the reference executor runs them: max or average pooling of one block."""

from __future__ import annotations

import numpy as np

from xir.isa import ActType, PoolType

from . import blocks
from .numerics import finish


def poolinit(m, instr) -> None:
    """POOLINIT (docs/isa.md §5.5, §6): "POOLINIT sets the pool state (kernel up to 8x8, strides,
    `shift_cut`, placement)"; it persists until the next POOLINIT."""
    m.set_init(instr)


def pool(m, op) -> None:
    """POOL (docs/isa.md §5.5): R = `valid_pixel_parallel` (of POOLINIT) rows by `length` columns by
    `channel_group` lines, "each channel on its own". "MAX: `acc` = window maximum, padding reads
    -128; `v = acc / 2^shift_cut`". "AVG: `acc` = window sum, padding reads 0; `v = acc *
    multi_factor / 2^shift_cut`". "No activation"; one rounding, int8 saturation (§5.1)."""
    init = m.need_init("POOLINIT", op.kind)[0]
    is_max = init["pool_type"] == PoolType.MAX
    x, out = blocks.window_block(m, init, op, rows=init["valid_pixel_parallel"],
                                 kernel=(init["kernel_h"], init["kernel_w"]),
                                 stride=(init["stride_h"], init["stride_w"]), jump_read=init["jump_read"],
                                 jump_write=init["jump_write"], channel_offset=0, pad_min=is_max)
    x = x.astype(np.int64)                                              # [B, R*L, taps, C]
    acc = x.max(axis=2) if is_max else x.sum(axis=2) * op["multi_factor"]
    out.write(m.banks, finish(acc, init["shift_cut"], ActType.NONE).reshape((m.batch,) + out.shape + (-1,)))
