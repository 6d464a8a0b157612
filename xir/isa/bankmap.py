"""Where a target's on-chip banks are, as instructions address them (docs/isa.md §4.2-4.5).

Rule: bank ids and depths come from the target's bank groups; image banks form lane blocks of PP
consecutive ids; conv weights use the same lines of all OCP weights banks; biases live in the bias
bank, or, on targets without one, at the top of the first weights bank (two halves of the lines the
largest bias block set takes); depthwise weights in the first depthwise bank, read as a byte array.
Both the compiler (which places data there) and the stream checks (which follow what instructions
read and write) use this one description.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:                   # xir.target imports xir.isa
    from xir.target import Target


class BankMap:
    """Bank ids, widths and depths of a target, and where weights, biases and depthwise weights live."""

    def __init__(self, t: Target):
        self.t = t
        self.pp, self.icp, self.ocp = t.pp, t.icp, t.ocp
        self.lane_blocks: list[tuple[int, int]] = []          # (first bank id, depth)
        for g in t.image_groups:
            for k in range(g.count // t.pp):
                self.lane_blocks.append((g.first_id + k * t.pp, g.depth))
        self.image_width = t.image_groups[0].width
        w = t.weights_group
        self.weights_first, self.weights_depth, self.weights_width = w.first_id, w.depth, w.width
        bias_groups = t.groups("bias")
        if bias_groups:
            b = bias_groups[0]
            self.bias_bank, self.bias_base, self.bias_depth, self.bias_width = b.first_id, 0, b.depth, b.width
            self.weights_area = w.depth
        else:
            # biases share the first weights bank: reserve two halves for the largest bias block set
            lines = 2 * -(-t.limits.conv_out_channels_max // w.width)
            self.bias_bank, self.bias_base, self.bias_depth, self.bias_width = (
                w.first_id, w.depth - lines, lines, w.width)
            self.weights_area = w.depth - lines
        dw = t.dwweights_group
        self.dw_bank = dw.first_id if dw else None
        self.dw_depth = dw.depth if dw else 0
        self.dw_width = dw.width if dw else 0
        self.info: dict[int, tuple[int, int]] = {}              # bank id -> (width, depth)
        for g in t.banks:
            for i in g.ids:
                self.info[i] = (g.width, g.depth)
        #: lines one output block of OCP channels takes per pixel in an image bank
        self.olines = -(-t.ocp // self.image_width)
