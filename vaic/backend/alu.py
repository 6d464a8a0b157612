"""ALUINIT / ALU for one block of a channel-wise op (docs/isa.md §5.6), shared by the pools the POOL
engine cannot take (MAXPOOL / AVGPOOL) and the depthwise ops whose activation only ALUINIT holds
(DWCONV with HSIGMOID / HSWISH).

Rules:
- ALUINIT carries the window (kernel and stride up to 256), the op's arithmetic (``alu_type``,
  shifts, activation, ``multi_factor``, hard-sigmoid fix positions) and the block's placement: G lines
  per pixel (``jump_read`` / ``jump_write``), the read phase, ``jump_read_endl`` only for stride_h > 1;
  the emitter skips an ALUINIT equal to the one in force;
- ALU carries the block: R rows, ``length`` columns, ``channel_group``, the sweep bases, the pads
  (top / left up to 15, bottom / right up to 255: ``ALU_PADS`` for the tiler), the output position
  and, for DWCONV, the lines of the depthwise weights and biases and the tail mask.
"""
from __future__ import annotations

from .chanwise import Step
from .context import Ctx
from .geometry import Window

#: largest pads (left, right, top, bottom) the ALU fields hold, in chanwise.run's order
ALU_PADS = (15, 255, 15, 255)


def emit_alu(ctx: Ctx, s: Step, win: Window, init: dict, **block) -> None:
    """ALUINIT (``init``: alu_type and arithmetic fields) and one ALU over step ``s``; ``block`` adds
    the ALU's per-op fields (DWCONV: bank_addr_weights, bank_addr_bias, channel_offset)."""
    rd, lay, blk = s.reads[0], s.ins[0], s.blk
    ctx.em.init("ALUINIT", kernel_h=win.kh, kernel_w=win.kw, stride_h=win.sh, stride_w=win.sw, jump_read=s.G,
                jump_read_endl=lay.endl if win.sh > 1 else 0, jump_write=s.G, jump_write_endl=s.out.endl,
                stride_offset_in=rd["phase"], stride_out=1, stride_offset_out=0, **init)
    bank_out, line_out = s.out.write(blk.k0)
    bases = rd["bases"]
    ctx.em.emit("ALU", bank_id_in=rd["bank_id_in"], bank_addr_in=bases[0], bank_addr_in_1=bases[1],
                bank_addr_in_2=bases[2], bank_addr_in_3=bases[3], pad_top=blk.pad_top, pad_bottom=blk.pad_bottom,
                pad_left=s.span_c.pad_before, pad_right=s.span_c.pad_after, valid_pixel_parallel=blk.R,
                channel_group=s.G, length=s.m, bank_id_out=bank_out, bank_addr_out=line_out, **block)
