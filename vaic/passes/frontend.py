"""Frontend: read the quantized model and check it is one the target can take.

Rules: the file must be a deploy graph written by a quantizer (float ops with ``fix`` ops), not a
float model and not an already compiled one; every fix position must satisfy the target's shift
constraints (docs/numerics.md, DPU shift constraints) -- a violation names the op and the range it
breaks; every float constant is finite (a NaN cannot be quantized and an infinity would saturate
silently); every fix op's position lies within ``xir.fixpoint.FIX_POS_LIMIT`` and its bit width
within 1..16. A depthwise op with
HSIGMOID / HSWISH has no shift_cut constraint: only the ALU runs it, reading its fix positions from
the ALUINIT hard-sigmoid fields, and where those cannot hold them the partitioner sends it to the CPU
(HSIGMOID_FIX_POSITION); the quantizer leaves a separate hard-swish's output position free.
"""
from __future__ import annotations

import numpy as np

import xir
from xir import fixpoint
from xir.errors import XModelError
from xir.target.placement import ALU_DW_ACTS

from ..errors import VaicError

FIXED_CONV = ("conv2d-fix", "depthwise-conv2d-fix", "transposed-conv2d-fix", "inner-product-fix")


def load_model(path) -> xir.Graph:
    try:
        g = xir.Graph.deserialize(path)
    except XModelError as e:
        raise VaicError(str(e)) from None
    if g.get_root_subgraph().children:
        raise VaicError(f"{path}: this model is already compiled (it has {len(g.get_root_subgraph().children)} "
                        "subgraphs); give vaic the quantizer's <Net>_int.xmodel")
    kinds = {o.get_type() for o in g.get_ops()}
    if "fix" not in kinds and not any(k.endswith("-fix") for k in kinds):
        raise VaicError(f"{path}: a float (unquantized) model has no fix positions; quantize it with vaiq "
                        "first (vaiq quantize ...) and compile its <Net>_int.xmodel")
    for op in g.get_ops():
        if op.get_type() == "fix":
            fp, bw = op.get_attr("fix_point"), op.get_attr_or_default("bit_width")
            if abs(int(fp)) > fixpoint.FIX_POS_LIMIT or not 1 <= int(bw) <= 16:
                raise VaicError(f"{path}: fix op '{op.get_name()}' has fix_point {fp}, bit_width {bw}: outside "
                                f"-{fixpoint.FIX_POS_LIMIT}..{fixpoint.FIX_POS_LIMIT} and 1..16; the model is "
                                "corrupt: quantize it again")
        if op.get_type() in ("const", "const-fix"):
            data = np.asarray(op.get_const_data())
            if data.dtype.kind == "f" and not np.isfinite(data).all():
                bad = "NaN" if np.isnan(data).any() else "an infinite value"
                raise VaicError(f"{path}: constant '{op.get_name()}' holds {bad}; the float model's weights are "
                                "broken: fix them and quantize again")
    return g


def _fp(t) -> int:
    return int(t.get_attr("fix_point"))


def _alu_activation(op: xir.Op) -> bool:
    """A depthwise op with HSIGMOID / HSWISH: no shift_cut constraint (module rule)."""
    return op.get_type() == "depthwise-conv2d-fix" and op.get_attr_or_default("nonlinear") in ALU_DW_ACTS


def check_fix_positions(g: xir.Graph) -> None:
    """Shift constraints on a folded (fixed-op) graph; the first violation raises VaicError."""
    for op in g.toposort():
        t = op.get_type()
        problems: list[str] = []
        if t in FIXED_CONV and not _alu_activation(op):
            b = _fp(op.get_input_tensor("bias")) if op.get_input_num("bias") else None
            problems = fixpoint.check_conv_shifts(_fp(op.get_input_tensor("input")),
                                                  _fp(op.get_input_tensor("weights")), b,
                                                  _fp(op.get_output_tensor()))
        elif t == "eltwise-fix":
            fps = [_fp(x) for x in op.get_input_tensors("input")]
            check = fixpoint.check_eltwise_add_shifts if op.get_attr("type") == "ADD" else \
                fixpoint.check_eltwise_mul_shifts
            problems = check(fps, _fp(op.get_output_tensor()))
        elif t == "concat-fix":
            problems = fixpoint.check_concat_fix([_fp(x) for x in op.get_input_tensors("input")],
                                                 _fp(op.get_output_tensor()))
        elif t == "hard-sigmoid-fix":
            problems = fixpoint.check_hsigmoid_shifts(_fp(op.get_input_tensor("input")), _fp(op.get_output_tensor()))
        elif t == "pool-fix" and op.get_attr("type") == "MAX":
            problems = fixpoint.check_same_fix(_fp(op.get_input_tensor("input")), _fp(op.get_output_tensor()),
                                               "max-pool")
        if problems:
            raise VaicError(f"op '{op.get_name()}' ({t}) breaks a DPU fix-position constraint: {problems[0]}; "
                            "re-quantize with vaiq (its refinement enforces these ranges)")
