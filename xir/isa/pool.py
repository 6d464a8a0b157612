"""POOLINIT (published for ISA1) and POOL (project-defined): max or average pooling on the MISC engine.

POOL computes ``valid_pixel_parallel`` (from POOLINIT) output rows x ``length`` columns x
``channel_group`` lines. MAX takes the window maximum (padding reads as -128); AVG takes the window
sum (padding reads as 0) times ``multi_factor``. Either is then divided by 2**shift_cut and rounded once.
"""

from __future__ import annotations

from .codes import PoolType
from .kinddef import E, KindDef, M1, U, f

POOLINIT = KindDef(
    name="POOLINIT",
    opcode=0x6,
    summary="Set the pool state: type, kernel, strides, shift and row placement.",
    fields=(
        f("jump_read", U, "lines between consecutive input pixels of a row"),
        f("kernel_h", M1, "window height"),
        f("kernel_w", M1, "window width"),
        f("shift_cut", U, "right shift of the pooled value (AVG: the factor's shift)"),
        f("pool_type", E, "pooling operation", PoolType),
        f("stride_h", M1, "vertical stride; also the read placement group"),
        f("stride_w", M1, "horizontal stride"),
        f("stride_offset_in", U, "slot position of input tile row 0 (0 .. stride_h-1)"),
        f("valid_pixel_parallel", M1, "output rows each POOL computes (1 .. PP)"),
        f("stride_offset_out", U, "slot position of output row 0 (0 .. stride_out-1)"),
        f("stride_out", M1, "output rows per bank slot (write placement group)"),
        f("jump_write", U, "lines between consecutive output pixels of a row"),
    ),
    tables={
        isa: (
            ("jump_read:10", "kernel_h:3", "kernel_w:3", "shift_cut:4"),
            ("pool_type:2", "stride_h:3", "stride_w:3", "stride_offset_in:3", "valid_pixel_parallel:3",
             "stride_offset_out:3", "stride_out:4", "jump_write:10", "rsv:1"),
        )
        for isa in ("ISA1", "ISA1X")
    },
    published=frozenset({"ISA1"}),
)

POOL = KindDef(
    name="POOL",
    opcode=0xC,
    summary="Pool one output block: valid_pixel_parallel rows x length columns x channel_group lines.",
    fields=(
        f("bank_addr_in", U, "base line of input sweep 0"),
        f("pad_top", U, "padding rows above the input tile (virtual)"),
        f("pad_left", U, "padding columns left of the input tile"),
        f("bank_addr_out", U, "base line of the output (sweep 0, slot position 0)"),
        f("pad_bottom", U, "padding rows below the input tile"),
        f("pad_right", U, "padding columns right of the input tile"),
        f("channel_group", M1, "channel groups (lines) per pixel, pooled independently"),
        f("jump_read_endl", U, "lines between input rows that share a bank slot"),
        f("bank_id_in", U, "bank of input tile row 0"),
        f("length", M1, "output columns"),
        f("jump_write_endl", U, "lines between output rows that share a bank slot"),
        f("bank_id_out", U, "bank of output row 0"),
        f("bank_addr_in_1", U, "base line of input sweep 1"),
        f("bank_addr_in_2", U, "base line of input sweep 2"),
        f("bank_addr_in_3", U, "base line of input sweep 3"),
        f("multi_factor", U, "AVG: the window sum is multiplied by this before the shift (MAX: unused)"),
    ),
    tables={
        "ISA1": (
            ("bank_addr_in:12", "pad_top:4", "pad_left:4"),
            ("bank_addr_out:12", "pad_bottom:4", "pad_right:4", "rsv:4", "channel_group:8"),
            ("jump_read_endl:10", "bank_id_in:6", "rsv:6", "length:10"),
            ("jump_write_endl:10", "bank_id_out:6", "bank_addr_in_1:12", "rsv:4"),
            ("bank_addr_in_2:12", "bank_addr_in_3:12", "multi_factor:8"),
        ),
        "ISA1X": (
            ("bank_addr_in:14", "rsv:6"),
            ("bank_addr_out:14", "pad_top:4", "pad_left:4", "pad_bottom:4", "pad_right:4", "rsv:2"),
            ("jump_read_endl:10", "bank_id_in:7", "length:10", "rsv:5"),
            ("jump_write_endl:10", "bank_id_out:7", "channel_group:8", "rsv:7"),
            ("bank_addr_in_1:14", "bank_addr_in_2:14", "rsv:4"),
            ("bank_addr_in_3:14", "multi_factor:8", "rsv:10"),
        ),
    },
)

KINDS = (POOLINIT, POOL)
