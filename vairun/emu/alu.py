"""ALUINIT and ALU as the reference executor runs them: the general window engine."""

from __future__ import annotations

import numpy as np

from xir.isa import ActType, AluType

from . import blocks
from .dwconv import depthwise_spans, depthwise_sum
from .numerics import add_bias, finish, finish_hsigmoid, finish_prelu


def aluinit(m, instr) -> None:
    """ALUINIT (docs/isa.md §5.6, §6): "ALUINIT sets the ALU state: `alu_type`, kernel and strides up
    to 256, shifts, activation, `multi_factor`, placement"; it persists until the next ALUINIT."""
    m.set_init(instr)


def alu(m, op) -> None:
    """ALU (docs/isa.md §5.6): R = `valid_pixel_parallel` rows by `length` columns by `channel_group`
    lines, each channel on its own. "MAXPOOL: `acc` = window maximum (padding -128); AVGPOOL: `acc` =
    window sum (padding 0) times `multi_factor`; DWCONV: `acc` = sum of input x depthwise weight
    (implicit bank, 4.5) plus `bias * 2^shift_bias`." "NONE, RELU, LEAKYRELU, RELU6: `v = acc /
    2^shift_cut`"; "PRELU: `v = acc / 2^shift_prelu_p` where `acc >= 0`, else `acc * slope /
    2^shift_prelu_n`" with "the slope of channel `ch` ... byte `channel_group * ICP + ch`" of the bias
    bank; HSIGMOID and HSWISH: "`x = acc / 2^shift_cut` is read as a number at fix position
    `hsigmoid_in`; the result is produced at fix position `hsigmoid_out`"."""
    init = m.need_init("ALUINIT", op.kind)[0]
    alu_type, act = init["alu_type"], init["act_type"]
    kernel = (init["kernel_h"], init["kernel_w"])
    x, out = blocks.window_block(m, init, op, rows=op["valid_pixel_parallel"], kernel=kernel,
                                 stride=(init["stride_h"], init["stride_w"]), jump_read=init["jump_read"],
                                 jump_write=init["jump_write"], channel_offset=op["channel_offset"],
                                 pad_min=alu_type == AluType.MAXPOOL)
    channels = op["channel_group"] * m.target.icp
    side_bytes = channels * (2 if act == ActType.PRELU else 1)   # biases, then PRELU slopes
    side = None
    if alu_type == AluType.DWCONV:
        w_span, side_span = depthwise_spans(m, op, kernel[0] * kernel[1], channels, side_bytes)
    elif act == ActType.PRELU:
        side_span = m.banks.byte_span(m.target.bias_group.first_id, op["bank_addr_bias"], side_bytes,
                                      "PRELU slopes")
    if alu_type == AluType.DWCONV or act == ActType.PRELU:
        side = m.banks.read_span(side_span).astype(np.int64)[:, None, :]   # [B, 1, bytes]
    e = 0  # the exact acc is n * 2**-e (e > 0 only when a negative shift_bias shifted it left)
    if alu_type == AluType.MAXPOOL:
        n = x.astype(np.int64).max(axis=2)
    elif alu_type == AluType.AVGPOOL:
        n = x.astype(np.int64).sum(axis=2) * init["multi_factor"]
    else:
        w = m.banks.read_span(w_span).reshape(m.batch, kernel[0] * kernel[1], channels)
        n, e = add_bias(depthwise_sum(x, w), side[..., :channels], init["shift_bias"], 0)
    if act == ActType.PRELU:
        result = finish_prelu(n, side[..., channels:], init["shift_prelu_p"] + e, init["shift_prelu_n"] + e)
    elif act in (ActType.HSIGMOID, ActType.HSWISH):
        result = finish_hsigmoid(n, init["shift_cut"] + e, init["hsigmoid_in"], init["hsigmoid_out"], act)
    else:
        result = finish(n, init["shift_cut"] + e, act)
    out.write(m.banks, result.reshape((m.batch,) + out.shape + (-1,)))
