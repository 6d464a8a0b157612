"""Where every fix position of a prepared graph lives, and the DPU constraint refinement.

Rules:
- a node whose output shares its input's fix position (layout ops, max-pool, pad, nearest upsample)
  reads and writes its input's entry; concat inputs and output are one group (docs/numerics.md), whose
  position is the lowest calibrated position of its members (the one that cannot overflow);
- refinement repeats until nothing changes:
  conv/dense/transposed: shift_cut = i + w - o in [0, 16] (lower o when too small, lower w when too
  large), shift_bias = i + w - b in [min(0, -(24 - (8 + shift_cut))), 16] (lower w when too large,
  lower b when too small); eltwise add: shift_read = max(i) - min(i) <= 7 (lower the larger inputs),
  shift_write = min(i) - o in [-7, 25]; eltwise mul: sum(i) - o in [0, 32]; hard-sigmoid: input in
  [0, 15] and output >= 7.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from xir import fixpoint

from .errors import VaiqError
from .ir import QGraph
from .prepare import has_fix

CONV_LIKE = ("conv2d", "transposed-conv2d", "inner-product")


@dataclass
class FixTable:
    graph: QGraph
    parent: dict[str, str] = field(default_factory=dict)
    pos: dict[str, int] = field(default_factory=dict)         # group root -> fix position
    bits: dict[str, int] = field(default_factory=dict)        # group root -> bit width
    param_pos: dict[str, int] = field(default_factory=dict)   # "node.weight" -> fix position
    param_bits: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        for n in self.graph.nodes:
            if not has_fix(n):
                continue
            if n.quant == "shared":
                self.parent[n.name] = self.root(n.inputs[0])
            else:
                self.parent[n.name] = n.name
        for n in self.graph.nodes:
            if n.kind == "concat" and n.quant == "own":
                for i in n.inputs:
                    if i in self.parent:
                        self._union(n.name, i)

    # -- groups ------------------------------------------------------------------------------
    def root(self, name: str) -> str:
        if name not in self.parent:
            raise VaiqError(f"tensor '{name}' has no fix position (it is a float tensor)")
        while self.parent[name] != name:
            self.parent[name] = self.parent[self.parent[name]]
            name = self.parent[name]
        return name

    def _union(self, a: str, b: str) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self.parent[rb] = ra

    def owners(self) -> list[str]:
        """Nodes that own a calibrated position (not those that borrow their input's)."""
        return [n.name for n in self.graph.nodes if has_fix(n) and n.quant != "shared"]

    def members(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name in self.parent:
            out.setdefault(self.root(name), []).append(name)
        return out

    def has(self, name: str) -> bool:
        return name in self.parent

    def get(self, name: str) -> int:
        return self.pos[self.root(name)]

    def bw(self, name: str) -> int:
        return self.bits[self.root(name)]

    def set(self, name: str, value: int) -> bool:
        r = self.root(name)
        if self.pos.get(r) == value:
            return False
        self.pos[r] = int(value)
        return True

    def settle_groups(self, calibrated: dict[str, int], bit_of: dict[str, int]) -> None:
        """Group positions from the calibrated owners: the lowest member wins."""
        for r, mem in self.members().items():
            vals = [calibrated[m] for m in mem if m in calibrated]
            if not vals:
                raise VaiqError(f"no calibration data reached tensor '{r}'; run forward passes over "
                                "calibration data before export_quant_config()")
            self.pos[r] = min(vals)
            self.bits[r] = max(bit_of[m] for m in mem if m in bit_of)

    # -- refinement ----------------------------------------------------------------------------
    def refine(self, max_rounds: int = 64) -> list[str]:
        """Apply the DPU shift constraints; returns a log line per change."""
        log: list[str] = []
        for _ in range(max_rounds):
            changed = False
            for n in self.graph.nodes:
                if n.quant != "own":
                    continue
                if n.kind in CONV_LIKE:
                    changed |= self._conv(n, log)
                elif n.kind == "add":
                    changed |= self._add(n, log)
                elif n.kind == "mul":
                    changed |= self._mul(n, log)
                elif n.kind == "hard-sigmoid":
                    changed |= self._hsigmoid(n, log)
            if not changed:
                return log
        raise VaiqError("fix-position refinement did not settle; the model's ranges cannot satisfy "
                        "the DPU shift constraints")

    def _note(self, log, changed, what):
        if changed:
            log.append(what)
        return changed

    def _conv(self, n, log) -> bool:
        i, o = self.get(n.inputs[0]), self.get(n.name)
        wk, bk = f"{n.name}.weight", f"{n.name}.bias"
        w = self.param_pos[wk]
        lo_cut, hi_cut = fixpoint.shift_cut_range()
        if i + w - o < lo_cut:
            return self._note(log, self.set(n.name, i + w - lo_cut), f"{n.name}: output fix lowered to {i + w - lo_cut} (shift_cut)")
        if i + w - o > hi_cut:
            self.param_pos[wk] = o + hi_cut - i
            return self._note(log, True, f"{n.name}: weight fix lowered to {o + hi_cut - i} (shift_cut)")
        if bk in self.param_pos:
            b = self.param_pos[bk]
            lo_b, hi_b = fixpoint.shift_bias_range(i + w - o)
            if i + w - b > hi_b:
                self.param_pos[wk] = b + hi_b - i
                return self._note(log, True, f"{n.name}: weight fix lowered to {b + hi_b - i} (shift_bias)")
            if i + w - b < lo_b:
                self.param_pos[bk] = i + w - lo_b
                return self._note(log, True, f"{n.name}: bias fix lowered to {i + w - lo_b} (shift_bias)")
        return False

    def _add(self, n, log) -> bool:
        ips = [self.get(i) for i in n.inputs]
        lo, hi = min(ips), max(ips)
        max_read = fixpoint.shift_read_range()[1]
        if hi - lo > max_read:
            changed = False
            for i in n.inputs:
                if self.get(i) > lo + max_read:
                    changed |= self.set(i, lo + max_read)
            return self._note(log, changed, f"{n.name}: inputs lowered to fix {lo + max_read} (shift_read)")
        o = self.get(n.name)
        w_lo, w_hi = fixpoint.shift_write_range()
        if lo - o < w_lo:
            return self._note(log, self.set(n.name, lo - w_lo), f"{n.name}: output fix lowered to {lo - w_lo} (shift_write)")
        if lo - o > w_hi:
            return self._note(log, self.set(n.name, lo - w_hi), f"{n.name}: output fix raised to {lo - w_hi} (shift_write)")
        return False

    def _mul(self, n, log) -> bool:
        s = sum(self.get(i) for i in n.inputs)
        o = self.get(n.name)
        lo, hi = fixpoint.eltwise_mul_shift_range()
        if s - o < lo:
            return self._note(log, self.set(n.name, s - lo), f"{n.name}: output fix lowered to {s - lo}")
        if s - o > hi:
            return self._note(log, self.set(n.name, s - hi), f"{n.name}: output fix raised to {s - hi}")
        return False

    def _hsigmoid(self, n, log) -> bool:
        i, o = self.get(n.inputs[0]), self.get(n.name)
        lo, hi = fixpoint.hsigmoid_fp_in_range()
        if i > hi:
            return self._note(log, self.set(n.inputs[0], hi), f"{n.name}: input fix lowered to {hi}")
        if i < lo:
            return self._note(log, self.set(n.inputs[0], lo), f"{n.name}: input fix raised to {lo}")
        if o < fixpoint.hsigmoid_fp_out_min():
            return self._note(log, self.set(n.name, fixpoint.hsigmoid_fp_out_min()), f"{n.name}: output fix raised to 7")
        return False

    def violations(self) -> list[str]:
        """Every DPU shift constraint the table breaks (empty when the model is exportable)."""
        out = []
        for n in self.graph.nodes:
            if n.quant != "own":
                continue
            if n.kind in CONV_LIKE:
                b = self.param_pos.get(f"{n.name}.bias")
                out += [f"{n.name}: {v}" for v in fixpoint.check_conv_shifts(
                    self.get(n.inputs[0]), self.param_pos[f"{n.name}.weight"], b, self.get(n.name))]
            elif n.kind == "add":
                out += [f"{n.name}: {v}" for v in fixpoint.check_eltwise_add_shifts(
                    [self.get(i) for i in n.inputs], self.get(n.name))]
            elif n.kind == "mul":
                out += [f"{n.name}: {v}" for v in fixpoint.check_eltwise_mul_shifts(
                    [self.get(i) for i in n.inputs], self.get(n.name))]
            elif n.kind == "hard-sigmoid":
                out += [f"{n.name}: {v}" for v in fixpoint.check_hsigmoid_shifts(
                    self.get(n.inputs[0]), self.get(n.name))]
        return out
