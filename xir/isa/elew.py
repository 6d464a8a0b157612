"""ELEWINIT and ELEW (both project-defined): element-wise ADD or MUL of up to 16 inputs on MISC.

One ELEWINIT per input (``input_id`` 0 .. num_inputs-1) gives where that input's block starts and its
``shift_read``; ELEW then computes ``valid_pixel_parallel`` rows x ``length`` columns x
``channel_group`` lines. ADD: v = (sum of q_i * 2**shift_read_i) * 2**-(shift_write + S), S = the
largest shift_read of the inputs; MUL: v = (product of the q_i) * 2**-shift_write, every shift_read 0.
Then the activation and one rounding.
"""

from __future__ import annotations

from .codes import ActType, ElewType
from .conv import CONV_ACTS
from .kinddef import E, KindDef, M1, S, U, f

ELEWINIT = KindDef(
    name="ELEWINIT",
    opcode=0xD,
    summary="Set where element-wise input `input_id` is read from and its shift_read.",
    fields=(
        f("bank_addr", U, "base line of this input's sweep 0"),
        f("shift_read", U, "ADD: left shift aligning this input (max fix position - its fix position)"),
        f("input_id", U, "which input of the next ELEW this configures (0 .. 15)"),
        f("jump_read", U, "lines between consecutive pixels of a row of this input"),
        f("jump_read_endl", U, "lines between rows of this input that share a bank"),
        f("bank_id", U, "bank of this input's block row 0"),
    ),
    tables={
        "ISA1": (
            ("bank_addr:12", "shift_read:4", "input_id:4"),
            ("jump_read:10", "jump_read_endl:10", "bank_id:6", "rsv:6"),
            ("rsv:32",),
        ),
        "ISA1X": (
            ("bank_addr:14", "shift_read:4", "rsv:2"),
            ("jump_read:10", "jump_read_endl:10", "bank_id:7", "input_id:4", "rsv:1"),
            ("rsv:32",),
        ),
    },
)

ELEW = KindDef(
    name="ELEW",
    opcode=0xE,
    summary="Combine num_inputs blocks element-wise into one output block.",
    fields=(
        f("bank_addr_out", U, "base line of output sweep 0"),
        f("act_type", E, "activation: NONE, RELU, LEAKYRELU or RELU6", ActType, CONV_ACTS),
        f("elew_type", E, "element-wise operation", ElewType),
        f("length", M1, "columns of the block"),
        f("channel_group", M1, "channel groups (lines) per pixel"),
        f("bank_id_out", U, "bank of output row 0"),
        f("shift_write", S, "right shift to the output (ADD: min fix position - o; MUL: sum - o)"),
        f("jump_write", U, "lines between consecutive output pixels of a row"),
        f("jump_write_endl", U, "lines between output rows that share a bank"),
        f("num_inputs", M1, "inputs combined (configured by ELEWINIT input_id 0 .. num_inputs-1)"),
        f("valid_pixel_parallel", M1, "rows of the block (1 .. PP)"),
    ),
    tables={
        "ISA1": (
            ("bank_addr_out:12", "act_type:4", "elew_type:2", "rsv:2"),
            ("length:10", "channel_group:8", "bank_id_out:6", "shift_write:7", "rsv:1"),
            ("jump_write:10", "jump_write_endl:10", "num_inputs:4", "valid_pixel_parallel:3", "rsv:5"),
        ),
        "ISA1X": (
            ("bank_addr_out:14", "act_type:4", "elew_type:2"),
            ("length:10", "channel_group:8", "bank_id_out:7", "shift_write:7"),
            ("jump_write:10", "jump_write_endl:10", "num_inputs:4", "valid_pixel_parallel:3", "rsv:5"),
        ),
    },
)

KINDS = (ELEWINIT, ELEW)
