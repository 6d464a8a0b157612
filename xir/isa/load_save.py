"""LOAD (DDR -> bank) and SAVE (bank -> DDR): one row of pixels per instruction.

Layouts of both are published for ISA1; the meaning of ``pad_idx``, ``mode_avg`` and ``broadcast`` is
the project's interpretation (the published table names them without saying what they do).
"""

from __future__ import annotations

from .codes import PadMode
from .kinddef import E, KindDef, M1, S, U, f

LOAD = KindDef(
    name="LOAD",
    opcode=0x0,
    summary="Copy one row of `length` pixels from DDR into a bank, with optional padding pixels.",
    fields=(
        f("bank_addr", U, "line of pixel 0 in the destination bank"),
        f("bank_id", U, "destination bank"),
        f("jump_write", U, "lines between consecutive pixels in the bank"),
        f("jump_read", U, "bytes between consecutive pixels in DDR"),
        f("length", M1, "pixels written, padding pixels included"),
        f("channel", M1, "bytes (channels) read from DDR for each pixel"),
        f("pad_idx", U, "channels appended after the `channel` loaded ones in each pixel, "
                        "filled with const_value"),
        f("reg_id", U, "DDR base register (one of 8)"),
        f("const_value", S, "int8 value of CONST padding pixels and of appended channels"),
        f("broadcast", U, "extra banks that receive a copy: the row goes to banks "
                          "bank_id .. bank_id+broadcast at the same lines"),
        f("mode_avg", E, "what padding pixels hold: const_value, or a copy of the nearest pixel "
                         "read from DDR", PadMode),
        f("pad_end", U, "padding pixels at the end of the row (not read from DDR)"),
        f("pad_start", U, "padding pixels at the start of the row (not read from DDR)"),
        f("ddr_addr", U, "byte offset of DDR pixel 0 inside register reg_id"),
    ),
    tables={
        "ISA1": (
            ("bank_addr:12", "rsv:2", "bank_id:6"),
            ("jump_write:10", "jump_read:16", "rsv:6"),
            ("length:10", "channel:14", "rsv:3", "pad_idx:5"),
            ("reg_id:3", "rsv:5", "const_value:8", "broadcast:4", "mode_avg:2", "pad_end:5", "pad_start:5"),
            ("ddr_addr:29", "rsv:3"),
        ),
        "ISA1X": (
            ("bank_addr:14", "rsv:6"),
            ("jump_write:10", "jump_read:16", "rsv:6"),
            ("length:10", "channel:14", "rsv:3", "pad_idx:5"),
            ("reg_id:3", "rsv:5", "const_value:8", "broadcast:4", "mode_avg:2", "pad_end:5", "pad_start:5"),
            ("ddr_addr:32",),
            ("bank_id:7", "rsv:25"),
        ),
    },
    published=frozenset({"ISA1"}),
)

SAVE = KindDef(
    name="SAVE",
    opcode=0x4,
    summary="Copy one row of `length` pixels from a bank to DDR (or fill DDR with a constant).",
    fields=(
        f("bank_addr", U, "line of pixel 0 in the source bank"),
        f("bank_id", U, "source bank"),
        f("jump_read", U, "lines between consecutive pixels in the bank"),
        f("jump_write", U, "bytes between consecutive pixels in DDR"),
        f("hp_id", U, "AXI port the writes use (0-3); timing only, no effect on data"),
        f("length", M1, "pixels written to DDR"),
        f("channel", M1, "bytes (channels) written for each pixel"),
        f("reg_id", U, "DDR base register (one of 8)"),
        f("const_value", S, "int8 value written when const_en is 1"),
        f("const_en", U, "1: write const_value into every byte instead of bank data (the bank is "
                         "not read); 0: copy from the bank"),
        f("ddr_addr", U, "byte offset of DDR pixel 0 inside register reg_id"),
    ),
    tables={
        "ISA1": (
            ("bank_addr:12", "rsv:2", "bank_id:6"),
            ("jump_read:10", "jump_write:16", "rsv:3", "hp_id:2", "rsv:1"),
            ("length:10", "channel:12", "rsv:10"),
            ("reg_id:3", "rsv:5", "const_value:8", "const_en:1", "rsv:15"),
            ("ddr_addr:29", "rsv:3"),
        ),
        "ISA1X": (
            ("bank_addr:14", "rsv:6"),
            ("jump_read:10", "jump_write:16", "rsv:3", "hp_id:2", "rsv:1"),
            ("length:10", "channel:12", "bank_id:7", "rsv:3"),
            ("reg_id:3", "rsv:5", "const_value:8", "const_en:1", "rsv:15"),
            ("ddr_addr:32",),
        ),
    },
    published=frozenset({"ISA1"}),
)

KINDS = (LOAD, SAVE)
