"""DWINIT and DPTWISE (both project-defined): depthwise convolution on the MISC engine.

DPTWISE computes ``valid_pixel_parallel`` output rows x ``length`` columns x ``channel_group`` lines;
output channel c is input channel c convolved with its own kernel, plus bias * 2**shift_bias, then
the activation and one rounding after the right shift by shift_cut.
"""

from __future__ import annotations

from .conv import CONV_ACTS
from .codes import ActType
from .kinddef import E, KindDef, M1, S, U, f

DWINIT = KindDef(
    name="DWINIT",
    opcode=0xB,
    summary="Set the depthwise state: kernel, strides, shifts, activation and row placement.",
    fields=(
        f("jump_read", U, "lines between consecutive input pixels of a row"),
        f("shift_cut", U, "right shift from the accumulator to the output (i + w - o)"),
        f("act_type", E, "activation: NONE, RELU, LEAKYRELU or RELU6", ActType, CONV_ACTS),
        f("jump_read_endl", U, "lines between input rows that share a bank slot"),
        f("shift_bias", S, "left shift aligning the bias to the accumulator (i + w - b)"),
        f("kernel_h", M1, "kernel height"),
        f("kernel_w", M1, "kernel width"),
        f("stride_h", M1, "vertical stride; also the read placement group"),
        f("stride_w", M1, "horizontal stride"),
        f("jump_write", U, "lines between consecutive output pixels of a row"),
        f("jump_write_endl", U, "lines between output rows that share a bank slot"),
        f("stride_offset_in", U, "slot position of input tile row 0 (0 .. stride_h-1)"),
        f("stride_offset_out", U, "slot position of output row 0 (0 .. stride_out-1)"),
        f("stride_out", M1, "output rows per bank slot (write placement group)"),
    ),
    tables={
        isa: (
            ("jump_read:10", "shift_cut:6", "act_type:4"),
            ("jump_read_endl:10", "shift_bias:6", "kernel_h:4", "kernel_w:4", "stride_h:4", "stride_w:4"),
            ("jump_write:10", "jump_write_endl:10", "stride_offset_in:3", "stride_offset_out:3",
             "stride_out:4", "rsv:2"),
        )
        for isa in ("ISA1", "ISA1X")
    },
)

DPTWISE = KindDef(
    name="DPTWISE",
    opcode=0xA,
    summary="Depthwise-convolve one output block: valid_pixel_parallel rows x length columns x channel_group lines.",
    fields=(
        f("bank_addr_in", U, "base line of input sweep 0"),
        f("pad_top", U, "zero rows above the input tile (virtual)"),
        f("pad_left", U, "zero columns left of the input tile"),
        f("bank_addr_out", U, "base line of the output (sweep 0, slot position 0)"),
        f("pad_bottom", U, "zero rows below the input tile"),
        f("pad_right", U, "zero columns right of the input tile"),
        f("valid_pixel_parallel", M1, "output rows this DPTWISE computes (1 .. PP)"),
        f("channel_group", M1, "channel groups (lines) per pixel"),
        f("bank_addr_weights", U, "line of kernel position 0 in the depthwise-weights bank"),
        f("bank_id_in", U, "bank of input tile row 0"),
        f("length", M1, "output columns"),
        f("bank_addr_bias", U, "first line of the biases in the bias bank"),
        f("bank_id_out", U, "bank of output row 0"),
        f("bank_addr_in_1", U, "base line of input sweep 1"),
        f("bank_addr_in_2", U, "base line of input sweep 2"),
        f("bank_addr_in_3", U, "base line of input sweep 3"),
        f("channel_offset", U, "trailing channels of the last group that read as zero"),
    ),
    tables={
        "ISA1": (
            ("bank_addr_in:12", "pad_top:4", "pad_left:4"),
            ("bank_addr_out:12", "pad_bottom:4", "pad_right:4", "valid_pixel_parallel:3", "rsv:1",
             "channel_group:8"),
            ("bank_addr_weights:12", "bank_id_in:6", "rsv:4", "length:10"),
            ("bank_addr_bias:12", "bank_id_out:6", "bank_addr_in_1:12", "rsv:2"),
            ("bank_addr_in_2:12", "bank_addr_in_3:12", "channel_offset:5", "rsv:3"),
        ),
        "ISA1X": (
            ("bank_addr_in:14", "rsv:6"),
            ("bank_addr_out:14", "pad_top:4", "pad_left:4", "pad_bottom:4", "pad_right:4", "rsv:2"),
            ("bank_addr_weights:14", "bank_id_in:7", "length:10", "rsv:1"),
            ("bank_addr_bias:14", "bank_id_out:7", "channel_group:8", "valid_pixel_parallel:3"),
            ("bank_addr_in_1:14", "bank_addr_in_2:14", "rsv:4"),
            ("bank_addr_in_3:14", "channel_offset:5", "rsv:13"),
        ),
    },
)

KINDS = (DWINIT, DPTWISE)
