"""Named codes of the enumerated instruction fields (act_type, pool_type, elew_type, alu_type, mode_avg)."""

from __future__ import annotations

from enum import IntEnum


class ActType(IntEnum):
    """``act_type``: the activation applied to the exact value before the single output rounding.

    The names are the xmodel ``nonlinear`` attribute values. Which instruction accepts which code is
    part of its layout (CONVINIT/DWINIT/ELEW: NONE, RELU, LEAKYRELU, RELU6; ALUINIT: all seven).
    """

    NONE = 0
    RELU = 1
    PRELU = 2
    LEAKYRELU = 3
    RELU6 = 4
    HSIGMOID = 5
    HSWISH = 6


class PoolType(IntEnum):
    """``pool_type`` of POOLINIT."""

    MAX = 0
    AVG = 1


class ElewType(IntEnum):
    """``elew_type`` of ELEW."""

    ADD = 0
    MUL = 1


class AluType(IntEnum):
    """``alu_type`` of ALUINIT: what the ALU computes over each window."""

    MAXPOOL = 0
    AVGPOOL = 1
    DWCONV = 2


class PadMode(IntEnum):
    """``mode_avg`` of LOAD: what the padding pixels of a loaded row hold."""

    CONST = 0  # every padding pixel holds const_value in each channel
    EDGE = 1  # a padding pixel copies the nearest pixel read from DDR

