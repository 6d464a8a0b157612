"""ALUINIT and ALU (both project-defined): the general window engine on MISC.

ALU computes ``valid_pixel_parallel`` output rows x ``length`` columns x ``channel_group`` lines.
Per window and channel it forms an exact accumulator ``acc``:

* MAXPOOL: the window maximum (padding reads as -128);
* AVGPOOL: the window sum (padding reads as 0) times ``multi_factor``;
* DWCONV:  sum of input x depthwise weight, plus bias * 2**shift_bias.

then the activation and one rounding: PRELU uses acc / 2**shift_prelu_p when acc >= 0 and
acc * slope / 2**shift_prelu_n otherwise; HSIGMOID and HSWISH read x = acc / 2**shift_cut as a
number at fix position ``hsigmoid_in`` and produce a value at fix position ``hsigmoid_out``; every other
activation applies to acc / 2**shift_cut.
"""

from __future__ import annotations

from .codes import ActType, AluType
from .kinddef import E, KindDef, M1, S, U, f

ALUINIT = KindDef(
    name="ALUINIT",
    opcode=0x1,
    summary="Set the ALU state: operation, kernel, strides, shifts, activation and row placement.",
    fields=(
        f("jump_read", U, "lines between consecutive input pixels of a row"),
        f("shift_cut", U, "right shift from the accumulator to the output"),
        f("act_type", E, "activation: any of the seven codes", ActType),
        f("jump_read_endl", U, "lines between input rows that share a bank slot"),
        f("shift_bias", S, "DWCONV: left shift aligning the bias to the accumulator"),
        f("alu_type", E, "what the ALU computes over each window", AluType),
        f("stride_out", M1, "output rows per bank slot (write placement group)"),
        f("multi_factor", U, "AVGPOOL: the window sum is multiplied by this (the avg-pool factor)"),
        f("jump_write", U, "lines between consecutive output pixels of a row"),
        f("jump_write_endl", U, "lines between output rows that share a bank slot"),
        f("stride_offset_out", U, "slot position of output row 0 (0 .. stride_out-1)"),
        f("stride_offset_in", U, "slot position of input tile row 0 (0 .. stride_h-1)"),
        f("kernel_h", M1, "window height"),
        f("kernel_w", M1, "window width"),
        f("stride_h", M1, "vertical stride; also the read placement group"),
        f("stride_w", M1, "horizontal stride"),
        f("shift_prelu_p", U, "PRELU: right shift of the accumulator where it is >= 0"),
        f("shift_prelu_n", U, "PRELU: right shift of accumulator x slope where the accumulator is < 0"),
        f("hsigmoid_in", U, "HSIGMOID/HSWISH: fix position of x = acc / 2**shift_cut"),
        f("hsigmoid_out", U, "HSIGMOID/HSWISH: fix position of the output"),
    ),
    tables={
        isa: (
            ("jump_read:10", "shift_cut:6", "act_type:4"),
            ("jump_read_endl:10", "shift_bias:6", "alu_type:4", "stride_out:4", "multi_factor:8"),
            ("jump_write:10", "jump_write_endl:10", "stride_offset_out:4", "stride_offset_in:8"),
            ("kernel_h:8", "kernel_w:8", "stride_h:8", "stride_w:8"),
            ("shift_prelu_p:6", "shift_prelu_n:6", "hsigmoid_in:4", "hsigmoid_out:5", "rsv:11"),
            ("rsv:32",),
        )
        for isa in ("ISA1", "ISA1X")
    },
)

ALU = KindDef(
    name="ALU",
    opcode=0x2,
    summary="Run the ALU on one output block: valid_pixel_parallel rows x length columns x channel_group lines.",
    fields=(
        f("bank_addr_in", U, "base line of input sweep 0"),
        f("pad_top", U, "padding rows above the input tile (virtual)"),
        f("pad_left", U, "padding columns left of the input tile"),
        f("bank_addr_out", U, "base line of the output (sweep 0, slot position 0)"),
        f("bank_id_in", U, "bank of input tile row 0"),
        f("bank_id_out", U, "bank of output row 0"),
        f("channel_group", M1, "channel groups (lines) per pixel, processed independently"),
        f("bank_addr_weights", U, "DWCONV: line of kernel position 0 in the depthwise-weights bank"),
        f("pad_bottom", U, "padding rows below the input tile"),
        f("length", M1, "output columns"),
        f("bank_addr_bias", U, "first line of the biases (DWCONV) and, after channel_group lines, "
                               "the PRELU slopes in the bias bank"),
        f("pad_right", U, "padding columns right of the input tile"),
        f("bank_addr_in_1", U, "base line of input sweep 1"),
        f("bank_addr_in_2", U, "base line of input sweep 2"),
        f("bank_addr_in_3", U, "base line of input sweep 3"),
        f("channel_offset", U, "trailing channels of the last group that read as zero"),
        f("valid_pixel_parallel", M1, "output rows this ALU computes (1 .. PP)"),
    ),
    tables={
        "ISA1": (
            ("bank_addr_in:12", "pad_top:4", "pad_left:4"),
            ("bank_addr_out:12", "bank_id_in:6", "bank_id_out:6", "channel_group:8"),
            ("bank_addr_weights:12", "pad_bottom:8", "length:10", "rsv:2"),
            ("bank_addr_bias:12", "pad_right:8", "bank_addr_in_1:12"),
            ("bank_addr_in_2:12", "bank_addr_in_3:12", "channel_offset:5", "valid_pixel_parallel:3"),
        ),
        "ISA1X": (
            ("bank_addr_in:14", "rsv:6"),
            ("bank_addr_out:14", "pad_top:4", "pad_left:4", "pad_bottom:8", "rsv:2"),
            ("bank_addr_weights:14", "bank_id_in:7", "length:10", "rsv:1"),
            ("bank_addr_bias:14", "bank_id_out:7", "channel_group:8", "valid_pixel_parallel:3"),
            ("bank_addr_in_1:14", "bank_addr_in_2:14", "rsv:4"),
            ("bank_addr_in_3:14", "channel_offset:5", "pad_right:8", "rsv:5"),
        ),
    },
)

KINDS = (ALUINIT, ALU)
