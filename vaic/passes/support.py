"""Which ops the target's DPU can run, and why not when it cannot.

Rule: an op runs on the DPU only if it fits the target (``xir.target.placement``: the engine exists,
kernel / stride / padding / channel numbers are inside the target's limits, its activation is one the
instruction of that engine can apply, its weights fit the banks), and the compiler agrees: the
quantizer did not keep it float, it computes on fixed-point data, a fused ReLU6 sits at an output fix
position the DPU's clamp is exact at, a hard-sigmoid / hard-swish on the ALU has fix positions its
ALUINIT fields hold, and the backend generates code for it. Every other op goes to the CPU with a
reason code and a sentence.
"""
from __future__ import annotations

from dataclasses import dataclass

import xir
from xir.target import Target
from xir.target.describe import describe_op
from xir.target.placement import ALU_DW_ACTS, OpDesc, alu_hsigmoid_fields, engine, misfit

USER_OPS = ("data-fix", "data")


@dataclass(frozen=True)
class Placement:
    device: str          # "DPU", "CPU" or "USER"
    code: str = ""       # reason code for a CPU op
    reason: str = ""     # one sentence


def dpu(engine: str = "") -> Placement:
    return Placement("DPU", engine)


def cpu(code: str, reason: str) -> Placement:
    return Placement("CPU", code, reason)


def _fp(t) -> int:
    return int(t.get_attr("fix_point"))


def _relu6_ok(op: xir.Op, d: OpDesc) -> Placement | None:
    """Rule: the DPU's ReLU6 clamps at 96 output units, exact only at output fix position >= 4."""
    if d.act == "RELU6" and _fp(op.get_output_tensor()) < 4:
        return cpu("RELU6_FIX_POSITION", "the DPU's ReLU6 clamps at 96 output units, exact only at fix "
                   f"position >= 4, and this output is at {_fp(op.get_output_tensor())}")
    return None


def hsigmoid_positions(op: xir.Op) -> tuple[int, int]:
    """(hsigmoid_in, hsigmoid_out) of a hard-sigmoid / hard-swish on the ALU: the fix positions of the
    activation's input (the accumulator: input + weights of a depthwise conv, the input of
    hard-sigmoid-fix; ALUINIT shift_cut 0) and of the output."""
    i = _fp(op.get_input_tensor("input"))
    w = _fp(op.get_input_tensor("weights")) if op.get_input_num("weights") else 0
    return i + w, _fp(op.get_output_tensor())


def _hsigmoid_ok(op: xir.Op, d: OpDesc, t: Target) -> Placement | None:
    """Rule: the ALU reads a hard-sigmoid / hard-swish input at fix position ``hsigmoid_in`` and writes
    ``hsigmoid_out``; both must fit their ALUINIT fields ([0, 15] and [0, 31])."""
    if d.act not in ALU_DW_ACTS:
        return None
    _, bad = alu_hsigmoid_fields(d.act, *hsigmoid_positions(op), t.isa)
    return cpu(*bad) if bad else None


def place(op: xir.Op, t: Target, generated: frozenset[str]) -> Placement:
    """DPU, CPU (with reason) or USER for one op of the canonical graph."""
    kind = op.get_type()
    if kind in USER_OPS:
        return Placement("USER")
    if op.has_attr("keep_float") and op.get_attr("keep_float"):
        return cpu("KEPT_FLOAT", "the quantizer kept this op float")
    if kind == "float2fix":
        return cpu("BOUNDARY", "converts a CPU result to fixed point for the DPU")
    if not op.get_output_tensor().has_attr("fix_point"):
        return cpu("FLOAT_OP", f"{kind} computes in float; the DPU computes int8 only")
    d = describe_op(op)
    bad = misfit(d, t)
    if bad:
        return cpu(*bad)
    if d.engine in ("alias", "slice"):
        return dpu("ALIAS")
    where = _relu6_ok(op, d) or _hsigmoid_ok(op, d, t) or dpu(engine(d, t))
    if where.device == "DPU" and kind not in generated:
        return cpu("NOT_GENERATED", f"the {t.family} backend does not generate {kind} yet")
    return where
