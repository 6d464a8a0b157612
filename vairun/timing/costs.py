"""How long each instruction keeps its engine busy, from its fields, the INIT state and the target.

Rules (cycles at the target's compute clock; docs/timing.md explains the choices):
- CONV: the engine computes PP pixels x ICP input channels x OCP output channels per cycle, so one
  CONV costs ``length * kh * kw * channel_group`` cycles whatever its row count R <= PP (idle lanes
  are the padding waste); plus ``overheads.conv``. With channel augmentation (a feature bit of the
  target) a CONV of one group with cin < ICP real input channels packs the kw taps of a kernel row
  into the ICP lanes: ``length * kh * ceil(kw * cin / ICP)`` cycles;
- DPTWISE: depthwise runs at ``dw_pp`` pixel lanes (half of PP on DPUCZDX8G):
  ``ceil(R / dw_pp) * length * kh * kw * channel_group`` cycles + ``overheads.misc``;
- POOL / ALU: ``alu_pp`` pixel lanes: ``ceil(R / alu_pp) * length * kh * kw * channel_group``;
- ELEW: ``ceil(R / alu_pp) * length * channel_group * num_inputs``;
- LOAD / SAVE: ``overheads.load|save + ceil(bytes / ddr_bytes_per_cycle)``; the data of a LOAD is
  usable ``overheads.ddr_latency`` cycles after the engine finishes issuing it (its tokens carry that
  delay), a SAVE's tokens likewise;
- INITs cost ``INIT_CYCLES``; END costs nothing.
Work counts (MACs, DDR bytes) are what the instruction really computes or moves.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from xir.target import Target

INIT_CYCLES = 2


@dataclass(frozen=True)
class Cost:
    cycles: int          # engine busy time
    latency: int = 0     # extra cycles before its tokens are delivered (DDR round trip)
    macs: int = 0
    ddr_bytes: int = 0


class CostModel:
    """Turns a stream into per-instruction costs, tracking the INIT state of each engine."""

    def __init__(self, target: Target):
        self.t = target
        self.state: dict[str, dict[str, int]] = {}
        self.augment = bool(target.features.get("channel_augmentation"))

    def cost(self, ins) -> Cost:
        t = self.t
        k = ins.kind
        f = ins.fields
        if k.endswith("INIT"):
            if k == "ELEWINIT":
                self.state.setdefault("ELEWINIT", {})[f["input_id"]] = f
            else:
                self.state[k] = f
            return Cost(INIT_CYCLES)
        if k == "END":
            return Cost(0)
        if k in ("LOAD", "SAVE"):
            pixels = f["length"] - (f["pad_start"] + f["pad_end"] if k == "LOAD" else 0)
            moved = max(pixels, 0) * f["channel"]
            over = t.overheads.load if k == "LOAD" else t.overheads.save
            return Cost(over + math.ceil(moved / t.ddr_bytes_per_cycle), t.overheads.ddr_latency, 0, moved)
        if k == "CONV":
            init = self.state.get("CONVINIT", {})
            kh, kw = init.get("kernel_h", 1), init.get("kernel_w", 1)
            rows = init.get("valid_pixel_parallel", 1)
            cg = f["channel_group"]
            cin = cg * t.icp - f["channel_offset"]
            if self.augment and cg == 1 and cin < t.icp:
                steps = kh * math.ceil(kw * cin / t.icp)   # kw taps of cin channels share the ICP lanes
            else:
                steps = kh * kw * cg
            return Cost(f["length"] * steps + t.overheads.conv, 0, rows * f["length"] * kh * kw * cin * t.ocp)
        if k == "DPTWISE":
            init = self.state.get("DWINIT", {})
            kh, kw = init.get("kernel_h", 1), init.get("kernel_w", 1)
            rows, cg = f["valid_pixel_parallel"], f["channel_group"]
            cycles = math.ceil(rows / t.dw_pp) * f["length"] * kh * kw * cg + t.overheads.misc
            return Cost(cycles, 0, rows * f["length"] * kh * kw * (cg * t.icp - f["channel_offset"]))
        if k in ("POOL", "ALU"):
            init = self.state.get("POOLINIT" if k == "POOL" else "ALUINIT", {})
            kh, kw = init.get("kernel_h", 1), init.get("kernel_w", 1)
            rows = init.get("valid_pixel_parallel", 1) if k == "POOL" else f["valid_pixel_parallel"]
            cg = f["channel_group"]
            cycles = math.ceil(rows / t.alu_pp) * f["length"] * kh * kw * cg + t.overheads.misc
            return Cost(cycles, 0, rows * f["length"] * kh * kw * cg * t.icp)
        if k == "ELEW":
            rows, cg, n = f["valid_pixel_parallel"], f["channel_group"], f["num_inputs"]
            cycles = math.ceil(rows / t.alu_pp) * f["length"] * cg * n + t.overheads.misc
            return Cost(cycles, 0, 0)
        raise ValueError(f"no cost rule for instruction kind {k}")
