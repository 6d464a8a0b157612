"""State shared by the op code generators, and the LOAD/SAVE patterns they all use.

Rules (docs/isa.md §5.2-5.3):
- a LOAD moves one row of at most 1024 pixels of at most 16384 bytes each into one bank, pixels
  ``jump_write`` lines apart; a SAVE moves one row of at most 1024 pixels of at most 4096 bytes;
  DDR pixels are ``jump_read``/``jump_write`` <= 65535 bytes apart;
- parameters (contiguous in CONST) are loaded as runs of whole lines, several lines per pixel;
- the weights, bias and depthwise areas each have two halves used in turn, so the parameters of
  the next chunk or layer load while the current ones are in use (a set larger than a half takes
  the whole area).
"""
from __future__ import annotations

import xir
from xir.isa import field_slot
from xir.target import Target

from .banks import Banks, TileLayout
from .ddrplan import DdrPlan, View
from .emitter import Emitter
from .errors import TilingError
from .params import ConstBuilder
from .program import CONST_REG, LayerStats

# field limits, read from the ISA's field definitions (xir.isa.field_slot)
LOAD_LENGTH = field_slot("LOAD", "length").hi
LOAD_CHANNEL = field_slot("LOAD", "channel").hi
DDR_JUMP = field_slot("LOAD", "jump_read").hi
LINE_JUMP = field_slot("LOAD", "jump_write").hi


class Halves:
    """Two halves of an area of ``depth`` lines starting at ``base``, handed out in turn."""

    def __init__(self, base: int, depth: int):
        self.base, self.depth, self.turn = base, depth, 0

    def take(self, lines: int) -> int | None:
        if lines > self.depth:
            return None
        half = self.depth // 2
        if lines > half:
            self.turn = 0
            return self.base
        at = self.base + self.turn * half
        self.turn ^= 1
        return at


class Ctx:
    def __init__(self, target: Target, plan: DdrPlan):
        self.t = target
        self.banks = Banks(target)
        self.plan = plan
        self.em = Emitter(self.banks, plan.reg_sizes, plan.inputs)
        self.const = ConstBuilder()
        self.stats: list[LayerStats] = []
        self.log: list[str] = []
        self.layer_index = 0
        b = self.banks
        self.weights = Halves(0, b.weights_area)
        self.bias = Halves(b.bias_base, b.bias_depth)
        self.dw = Halves(0, b.dw_depth)

    # ------------------------------------------------------------------ image buffers
    def allocate(self, sizes: list[int]):
        return self.banks.allocate(sizes, rotate=self.layer_index)

    # ------------------------------------------------------------------ LOAD / SAVE
    def load_lines(self, bank: int, line: int, addr: int, nlines: int, width: int) -> None:
        """LOAD ``nlines`` whole lines of contiguous CONST bytes at ``addr`` into ``bank`` from ``line``."""
        mmax = min(LOAD_CHANNEL // width, LINE_JUMP, DDR_JUMP // width)
        while nlines > 0:
            m = min(nlines, mmax)
            n = min(nlines // m, LOAD_LENGTH)
            self.em.emit("LOAD", bank_id=bank, bank_addr=line, length=n, channel=m * width,
                         jump_read=m * width, jump_write=m, reg_id=CONST_REG, ddr_addr=addr)
            nlines -= n * m
            line += n * m
            addr += n * m * width

    def load_row(self, layout: TileLayout, r: int, view: View, y: int, x0: int, ncols: int,
                 c0: int, nch: int) -> None:
        """LOAD stored tile row ``r`` (image row ``y``, columns x0.., channels c0..c0+nch)."""
        bank, line = layout.place(r)
        self.em.emit("LOAD", bank_id=bank, bank_addr=line, length=ncols, channel=nch,
                     jump_read=view.pix, jump_write=layout.pixel_lines, reg_id=view.reg,
                     ddr_addr=view.at(y, x0, c0))

    def save_row(self, layout: TileLayout, k: int, view: View, y: int, x0: int, ncols: int,
                 c0: int, nch: int, line_offset: int = 0) -> None:
        """SAVE tile row ``k`` to image row ``y`` of ``view`` (columns x0.., channels c0..c0+nch)."""
        bank, line = layout.place(k)
        self.em.emit("SAVE", bank_id=bank, bank_addr=line + line_offset, length=ncols, channel=nch,
                     jump_read=layout.pixel_lines, jump_write=view.pix, reg_id=view.reg,
                     ddr_addr=view.at(y, x0, c0))

    def check_view(self, op: str, view: View) -> None:
        if view.pix > DDR_JUMP:
            raise TilingError(op, f"{view.pix} bytes between pixels exceed the 65535 a LOAD/SAVE jump holds")

    # ------------------------------------------------------------------ misc
    def fp(self, t: xir.Tensor) -> int:
        return int(t.get_attr("fix_point"))

    def check_round(self, op: xir.Op) -> None:
        t = op.get_output_tensor()
        mode = t.get_attr("round_mode") if t.has_attr("round_mode") else "DPU_ROUND"
        if mode != "DPU_ROUND":
            raise TilingError(op.get_name(), f"its output rounds with {mode}; the DPU rounds half up (DPU_ROUND)")
        bw = int(t.get_attr("bit_width")) if t.has_attr("bit_width") else 8
        if bw != 8:
            raise TilingError(op.get_name(), f"its output is {bw}-bit; the DPU computes int8")


def act_code(op: xir.Op, out_fp: int, allowed: tuple[str, ...]) -> str:
    """The act_type of a fused activation (docs/isa.md §5.1: RELU6 clamps at 96 output units, exact
    at fix position 4; at 5 or more RELU gives the same int8 results; at 3 or less it has no form)."""
    act = op.get_attr_or_default("nonlinear")
    if act == "RELU6":
        if out_fp >= 5:
            return "RELU"
        if out_fp < 4:
            raise TilingError(op.get_name(), f"ReLU6 at output fix position {out_fp} (< 4) cannot be expressed")
    if act not in allowed:
        raise TilingError(op.get_name(), f"activation {act} has no form in this instruction")
    return act
