"""Fold a deploy graph's ``fix`` ops into fixed ops (the first step of canonicalisation).

A deploy graph (what the quantizer writes) is float ops with ``fix`` ops on every quantized tensor.
The rule: a compute op, an optional activation between it and its ``fix``, and the ``fix`` itself
become ONE fixed op whose output tensor carries the fix position, because that is what the hardware
computes (exact value, activation, one rounding):

- ``data -> fix`` becomes ``data-fix``; ``const -> fix`` becomes ``const-fix`` holding the integers;
- ``conv2d | depthwise-conv2d | transposed-conv2d | inner-product [-> act] -> fix`` becomes the
  ``*-fix`` op with ``nonlinear`` = the activation (relu, relu6, leaky-relu, hard-sigmoid, hard-swish);
- ``add | mul [-> act] -> fix`` becomes ``eltwise-fix`` (type ADD/MUL, nonlinear);
- ``maxpool2d | avgpool2d -> fix`` becomes ``pool-fix`` (MAX/AVG; avg computes sum*factor/2^shift);
- ``concat``, ``pad``, ``upsample``, ``reshape``/``flatten`` then ``fix`` become their ``*-fix`` forms;
  ``hard-sigmoid -> fix`` on its own becomes ``hard-sigmoid-fix``;
- any other activation on its own becomes an identity ``depthwise-conv2d-fix`` (1x1, weight 1 at fix
  position 0, no bias) carrying the activation, which is how the DPU runs it (a tensor that is not
  an image, e.g. a dense layer's [N, C] output, is reshaped to [N, 1, 1, C] around it: the op is
  element-wise);
- layout ops (reshape, flatten, transpose, strided_slice, identity) on a fixed tensor stay fixed and
  keep its fix position;
- float ops that read a fixed tensor get a ``fix2float`` in front; a ``fix`` after a float op becomes
  ``float2fix``.
An op with the attribute ``keep_float`` (set by the quantizer on layers it was told not to quantize)
is never folded: it stays a float op, with ``fix2float``/``float2fix`` around it.
A fixed op is named after the ``fix`` op it absorbs (so output tensor names survive the fold);
``data-fix``/``const-fix`` keep the data/const op's name.
"""
from __future__ import annotations

import numpy as np

from .. import fixpoint
from ..errors import GraphError
from ..graph import Graph, Op

ACTIVATIONS = {"relu": "RELU", "relu6": "RELU6", "leaky-relu": "LEAKYRELU",
               "hard-sigmoid": "HSIGMOID", "hard-swish": "HSWISH"}
COMPUTE = {"conv2d": "conv2d-fix", "depthwise-conv2d": "depthwise-conv2d-fix",
           "transposed-conv2d": "transposed-conv2d-fix", "inner-product": "inner-product-fix",
           "add": "eltwise-fix", "mul": "eltwise-fix", "maxpool2d": "pool-fix", "avgpool2d": "pool-fix"}
PLAIN = {"concat": "concat-fix", "pad": "pad-fix", "upsample": "upsample-fix",
         "reshape": "reshape-fix", "flatten": "reshape-fix"}
LAYOUT = {"reshape", "flatten", "transpose", "strided_slice", "identity"}
FIX_ATTRS = ("fix_point", "bit_width", "if_signed", "round_mode")


def _fix_info(fix: Op) -> dict:
    return {"fix_point": fix.get_attr("fix_point"),
            "bit_width": fix.get_attr_or_default("bit_width"),
            "if_signed": fix.get_attr_or_default("if_signed"),
            "round_mode": fix.get_attr_or_default("round_mode")}


def _set_fix(op: Op, info: dict) -> Op:
    t = op.get_output_tensor()
    t.set_attr("fix_point", int(info["fix_point"]))
    t.set_attr("bit_width", int(info["bit_width"]))
    t.set_attr("if_signed", bool(info["if_signed"]))
    t.set_attr("round_mode", str(info["round_mode"]))
    op.infer_shape()  # the dtype follows bit_width / if_signed
    return op


def _quantize_const(data: np.ndarray, info: dict) -> np.ndarray:
    """Integers of a const under its fix: the quantizer stores values already on the grid, so when
    every scaled value is an in-range integer the rounding is the identity and is skipped."""
    lo, hi = fixpoint.qrange(int(info["bit_width"]), bool(info["if_signed"]))
    if data.dtype == np.float32:
        q = _on_grid(data, int(info["fix_point"]), lo, hi,
                     fixpoint.int_dtype(int(info["bit_width"]), bool(info["if_signed"])))
        if q is not None:
            return q
    return fixpoint.quantize(data.astype(np.float64), info["fix_point"], info["bit_width"], info["round_mode"],
                             info["if_signed"])


_CHUNK = 1 << 16   # elements per block: the scaled block stays in cache while it is checked and cast


def _on_grid(data: np.ndarray, fp: int, lo: int, hi: int, dtype) -> np.ndarray | None:
    """``data * 2**fp`` as ``dtype`` when every scaled value is an integer in [lo, hi], else None.

    The scaling is exact (a power of two; a product that underflows or overflows rounds the same way
    as ``np.ldexp``), so a value passes exactly when its exact scaled value is such an integer."""
    flat = np.ascontiguousarray(data).reshape(-1)
    out = np.empty(flat.size, dtype=dtype)
    n = min(flat.size, _CHUNK)
    scaled, whole, bad = np.empty(n, np.float32), np.empty(n, np.float32), np.empty(n, np.bool_)
    # 2**fp as a normal float32 multiplies exactly like ldexp; outside that range use ldexp itself
    factor = np.float32(2.0 ** fp) if -126 <= fp <= 127 else None
    for i in range(0, flat.size, _CHUNK):
        src = flat[i:i + _CHUNK]
        k = src.size
        s, t, b = scaled[:k], whole[:k], bad[:k]
        if factor is not None:
            np.multiply(src, factor, out=s)
        else:
            np.ldexp(src, fp, out=s)
        np.trunc(s, out=t)
        np.not_equal(s, t, out=b)
        if b.any() or s.min() < lo or s.max() > hi:
            return None
        out[i:i + k] = s
    return out.reshape(data.shape)


def _only_user(op: Op) -> Op | None:
    users = op.get_fanout_ops()
    return users[0] if len(users) == 1 and op.get_fanout_num() == 1 else None


def _copy_attrs(src: Op, skip=()) -> dict:
    return {k: v for k, v in src.get_attrs().items() if k not in skip}


NONLINEAR_KINDS = ("conv2d-fix", "depthwise-conv2d-fix", "transposed-conv2d-fix", "inner-product-fix",
                   "eltwise-fix", "pool-fix")


class _Folder:
    """Two passes: ``plan`` decides (statically, in topological order) which ops each ``fix``
    absorbs and which tensors are fixed; ``emit`` builds the new graph."""

    def __init__(self, g: Graph):
        self.src = g
        self.dst = Graph(g.get_name())
        for k, (t, v) in g._attrs.items():
            self.dst.set_attr(k, v, t)
        self.is_fixed: dict[str, bool] = {}
        self.plan: dict[str, tuple] = {}     # fix name -> (kind of fold, compute op, activation op)
        self.absorbed: set[str] = set()
        self.new: dict[str, Op] = {}         # source op name -> op in dst carrying its value
        self.to_float: dict[str, Op] = {}

    # -- pass 1 --------------------------------------------------------------------------------
    def all_fixed(self, op: Op) -> bool:
        return bool(op.inputs) and all(self.is_fixed[i.name] for i in op.inputs)

    def make_plan(self) -> None:
        for op in self.src.toposort():
            t = op.get_type()
            if t == "fix":
                self.plan[op.name] = self._decide(op)
                self.is_fixed[op.name] = True
            elif t in LAYOUT and self.all_fixed(op):
                self.is_fixed[op.name] = True
            else:
                self.is_fixed[op.name] = False

    def _decide(self, fix: Op) -> tuple:
        p = fix.get_input_op("input")
        if p.has_attr("keep_float") and p.get_attr("keep_float"):
            return ("float2fix", p, None)
        if p.get_type() in ("data", "const") and _only_user(p) is fix:
            self.absorbed.add(p.name)
            return (p.get_type(), p, None)
        if _only_user(p) is fix and p.name not in self.absorbed:
            t = p.get_type()
            if t in ACTIVATIONS:
                q = p.get_input_op("input")
                if (q.get_type() in COMPUTE and q.get_type() != "maxpool2d" and _only_user(q) is p
                        and not (q.has_attr("keep_float") and q.get_attr("keep_float"))
                        and self.all_fixed(q) and q.name not in self.absorbed):
                    self.absorbed.update((p.name, q.name))
                    return ("fixed", q, p)
                if self.is_fixed[q.name]:
                    self.absorbed.add(p.name)
                    return ("activation", p, None)
            elif (t in COMPUTE or t in PLAIN) and self.all_fixed(p):
                self.absorbed.add(p.name)
                return ("fixed", p, None)
        return ("float2fix" if not self.is_fixed[p.name] else "requantize", p, None)

    # -- pass 2 --------------------------------------------------------------------------------
    def run(self, validate: bool = True) -> Graph:
        self.make_plan()
        for op in self.src.toposort():
            if op.name in self.absorbed:
                continue
            t = op.get_type()
            if t == "fix":
                self.emit_fix(op)
            elif self.is_fixed[op.name]:
                self.emit_layout(op)
            else:
                ins = {a: [self.float_of(o.name) for o in ops] for a, ops in op.get_input_ops().items()}
                self.new[op.name] = self.dst.create_op(op.name, t, _copy_attrs(op), ins)
        declared = self.src.get_declared_outputs()
        if declared:  # a declared output names the op now carrying its value (data -> fix keeps the data's name)
            self.dst.declare_outputs([self.new[n].name for n in declared if n in self.new])
        if validate:
            self.dst.validate()
        return self.dst

    def float_of(self, name: str) -> Op:
        op = self.new[name]
        if not self.is_fixed[name]:
            return op
        if name not in self.to_float:
            self.to_float[name] = self.dst.create_op(f"{op.name}_fix2float", "fix2float",
                                                     input_ops={"input": [op]})
        return self.to_float[name]

    def emit_layout(self, op: Op) -> None:
        src = self.new[op.inputs[0].name]
        info = {k: src.get_output_tensor().get_attr(k) for k in FIX_ATTRS}
        if op.get_type() in ("reshape", "flatten"):
            new = self.dst.create_op(op.name, "reshape-fix", {"shape": op.get_output_tensor().dims},
                                     {"input": [src]})
        else:
            new = self.dst.create_op(op.name, op.get_type(), _copy_attrs(op), {"input": [src]})
        self.new[op.name] = _set_fix(new, info)

    def emit_fix(self, fix: Op) -> None:
        info = _fix_info(fix)
        how, p, act = self.plan[fix.name]
        if how == "data":
            new = self.dst.create_op(p.name, "data-fix", {"shape": p.get_attr("shape"),
                                                          "data_type": f"xint{info['bit_width']}"})
            out = _set_fix(new, info)
        elif how == "const":
            q = _quantize_const(p.get_const_data(), info)
            kind = f"{'xint' if info['if_signed'] else 'xuint'}{info['bit_width']}"
            out = _set_fix(self.dst.create_const_op(p.name, q, kind, kind="const-fix"), info)
        elif how == "fixed":
            out = self.emit_fixed(p, act, fix.name, info)
        elif how == "activation":
            x = self.new[p.get_input_op("input").name]
            if p.get_type() == "hard-sigmoid":
                out = _set_fix(self.dst.create_op(fix.name, "hard-sigmoid-fix", {}, {"input": [x]}), info)
            else:
                out = self.emit_identity(x, ACTIVATIONS[p.get_type()], fix.name, info)
        elif how == "float2fix":
            out = _set_fix(self.dst.create_op(fix.name, "float2fix", _copy_attrs(fix),
                                              {"input": [self.new[p.name]]}), info)
        else:  # a second fix on an already fixed tensor: requantize through an identity op
            out = self.emit_identity(self.new[p.name], "NONE", fix.name, info)
        for o in (fix, p, act):
            if o is not None and (o is fix or o.name in self.absorbed):
                self.new[o.name] = out

    def emit_fixed(self, op: Op, act: Op | None, name: str, info: dict) -> Op:
        t = op.get_type()
        ins = {a: [self.new[o.name] for o in ops] for a, ops in op.get_input_ops().items()}
        attrs = _copy_attrs(op)
        if t in ("add", "mul"):
            kind, attrs = "eltwise-fix", {"type": "ADD" if t == "add" else "MUL"}
        elif t in ("maxpool2d", "avgpool2d"):
            kind = "pool-fix"
            attrs["type"] = "MAX" if t == "maxpool2d" else "AVG"
        else:
            kind = COMPUTE.get(t) or PLAIN[t]
        if t == "flatten":
            attrs = {"shape": op.get_output_tensor().dims}
        if kind in NONLINEAR_KINDS:
            attrs["nonlinear"] = ACTIVATIONS[act.get_type()] if act is not None else "NONE"
        return _set_fix(self.dst.create_op(name, kind, attrs, ins), info)

    def emit_identity(self, x: Op, nonlinear: str, name: str, info: dict) -> Op:
        dims = list(x.get_output_tensor().dims)
        c = dims[-1]
        flat = len(dims) != 4            # a [N, C] tensor is seen as N images of 1x1 pixels
        if flat:
            src = {k: x.get_output_tensor().get_attr(k) for k in FIX_ATTRS}
            c = int(np.prod(dims[1:], dtype=np.int64))
            x = _set_fix(self.dst.create_op(f"{name}_in4d", "reshape-fix", {"shape": [dims[0], 1, 1, c]},
                                            {"input": [x]}), src)
        w = self.dst.create_const_op(f"{name}_identity_weights", np.ones((1, 1, 1, c), np.int8),
                                     "xint8", kind="const-fix")
        _set_fix(w, {"fix_point": fixpoint.IDENTITY_WEIGHT_FIX_POS, "bit_width": 8, "if_signed": True, "round_mode": "DPU_ROUND"})
        new = self.dst.create_op(f"{name}_4d" if flat else name, "depthwise-conv2d-fix",
                                 {"kernel": [1, 1], "nonlinear": nonlinear}, {"input": [x], "weights": [w]})
        new = _set_fix(new, info)
        if flat:
            new = _set_fix(self.dst.create_op(name, "reshape-fix", {"shape": dims}, {"input": [new]}), info)
        return new


def fold_fix_ops(g: Graph, validate: bool = True) -> Graph:
    """A new graph where every foldable ``fix`` is folded into the fixed op it belongs to; it is
    validated unless ``validate`` is False (for callers that edit it further and validate after)."""
    if g.get_root_subgraph().children:
        raise GraphError(f"graph '{g.get_name()}' is already partitioned; fold a deploy graph instead")
    return _Folder(g).run(validate)
