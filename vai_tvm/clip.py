"""ONNX ``Clip`` as TVM's importer writes it, rewritten as the Relax op ``relax.clip`` the DPU patterns read.

Rule: TVM's ONNX importer computes ``Clip(x, lo, hi)`` as two TE computations, ``call_tir`` of
``topi.maximum(x, lo)`` and then of ``topi.minimum(., hi)``, with each bound passed through
``where(isnan(bound), -/+inf, bound)``. A ``minimum`` of a ``maximum`` whose bounds are constant scalars
(``vai_tvm.relax_util.scalar_value`` evaluates the ``where``/``isnan`` of constants) and whose ``maximum`` has
no other reader becomes ``relax.clip(x, lo, hi)``. A ``call_tir`` counts as ``maximum`` / ``minimum`` only
when its PrimFunc is structurally the one ``emit_te(topi.maximum / minimum)`` makes for the same operand
types, so no other TE computation is mistaken for one. ``relax.clip`` computes ``min(max(x, lo), hi)``, the
same values; whether a clip goes to the DPU is the patterns' business (``vai_tvm.partition``: ReLU6, i.e.
bounds 0 and 6, fused into the op before it when ``misfit`` accepts it).
"""
from __future__ import annotations

import numpy as np

from .tvm_check import require_tvm

tvm = require_tvm()
import tvm_ffi  # noqa: E402
from tvm import relax, topi  # noqa: E402

from .relax_util import op_name, scalar_value  # noqa: E402


def _te_func(fn, x_ty, b_ty):
    """The PrimFunc ``BlockBuilder.emit_te(fn, x, b)`` makes for operands of types ``x_ty`` and ``b_ty``."""
    bb = relax.BlockBuilder()
    x, b = relax.Var("x", x_ty), relax.Var("b", b_ty)
    with bb.function("f", [x, b]):
        with bb.dataflow():
            out = bb.emit_output(bb.emit_te(fn, x, b))
        bb.emit_func_output(out)
    mod = bb.get()
    return next(mod[gv] for gv in mod.get_global_vars() if gv.name_hint != "f")


def _te_operands(mod, call, fn):
    """``(x, bound)`` when ``call`` is a ``call_tir`` of the PrimFunc ``emit_te(fn, x, bound)`` makes, else None."""
    if op_name(call) != "relax.call_tir" or not isinstance(call.args[1], relax.Tuple) \
            or len(call.args[1].fields) != 2:
        return None
    x, b = call.args[1].fields
    func = mod[call.args[0]]
    if not tvm_ffi.structural_equal(func, _te_func(fn, x.ty, b.ty)):
        return None
    return x, b


def _uses(func) -> dict:
    """How many times each variable of ``func`` is read."""
    n: dict = {}

    def read(e):
        if isinstance(e, relax.Var):
            n[e] = n.get(e, 0) + 1
        elif isinstance(e, relax.Tuple):
            for f in e.fields:
                read(f)
        elif isinstance(e, tvm.ir.Call):
            for a in e.args:
                read(a)

    for block in func.body.blocks:
        for b in block.bindings:
            read(b.value)
    read(func.body.body)
    return n


@relax.expr_functor.mutator
class _Rewrite(relax.PyExprMutator):
    def __init__(self, mod, clips: list):
        super().__init__(mod)
        self.clips = clips

    def visit_call_(self, call):
        for old, x, lo, hi in self.clips:
            if call.same_as(old):
                return relax.op.clip(self.visit_expr(x), lo, hi)
        return super().visit_call_(call)


def clips_as_relax_op(mod):
    """``mod`` with every imported ``Clip`` of constant bounds in ``main`` as ``relax.clip`` (see the rule)."""
    main = mod["main"]
    var2val = relax.analysis.get_var2val(main)
    uses = _uses(main)
    clips = []
    for block in main.body.blocks:
        for b in block.bindings:
            hi_ops = _te_operands(mod, b.value, topi.minimum)
            if hi_ops is None or not isinstance(hi_ops[0], relax.Var) or uses.get(hi_ops[0]) != 1:
                continue
            lo_ops = _te_operands(mod, var2val.get(hi_ops[0]), topi.maximum)
            if lo_ops is None:
                continue
            lo, hi = scalar_value(lo_ops[1], var2val), scalar_value(hi_ops[1], var2val)
            if lo is None or hi is None or np.isnan(lo) or np.isnan(hi):
                continue
            clips.append((b.value, lo_ops[0], lo, hi))
    if not clips:
        return mod
    out = mod.clone() if hasattr(mod, "clone") else tvm.IRModule(dict(mod.functions_items()), attrs=mod.attrs)
    out["main"] = _Rewrite(mod, clips).visit_expr(main)
    return relax.transform.DeadCodeElimination()(out)
