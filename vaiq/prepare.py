"""Graph preparation before calibration.

Rules (docs/numerics.md, Nonlinearities):
- with ``convert_silu_to_hswish`` a SiLU ``x * sigmoid(x)`` (sigmoid read only by that multiply)
  becomes one hard-swish; with ``convert_sigmoid_to_hsigmoid`` every other sigmoid becomes a
  hard-sigmoid (both run on the DPU's ALU, both approximate); by default sigmoid stays a float (CPU)
  op and the multiply a quantized element-wise ``mul``;
- with ``convert_relu6_to_relu`` every ReLU6 becomes a ReLU (the float model changes too); it runs
  after the hard-sigmoid recognition, so ``relu6(x + 3) / 6`` stays a hard-sigmoid;
- a BatchNorm after a conv / transposed conv / dense that only feeds it is folded into that layer's
  weights and bias; any other BatchNorm becomes a 1x1 depthwise conv (scale and shift), so it is
  quantized like one;
- ReLU, ReLU6 and LeakyReLU after a conv / transposed conv / dense that only feeds them are fused into
  its quantization group (one fix position after the activation); ReLU after an add likewise;
  hard-sigmoid and hard-swish stay separate quantized nodes (the DPU runs them on its ALU);
- a LeakyReLU slope near 0.1 becomes the DPU's 26/256; another slope stays a float (CPU) op;
- layout ops (reshape, flatten, permute, slice) and max-pool / pad / nearest upsample share their
  input's fix position; a node whose input is float is float too;
- a float node gets an output fix position when a quantized node reads it, so the DPU part always
  receives int8 data, and when a QuantStub quantizes it (``quant_point``, vaiq.regions).
"""
from __future__ import annotations

import torch

from xir import fixpoint

from .ir import ACTIVATIONS, Node, QGraph

DPU_LEAKY_SLOPE = fixpoint.LEAKY_RELU_NUM / 2 ** fixpoint.LEAKY_RELU_SHIFT
CONV_LIKE = ("conv2d", "transposed-conv2d", "inner-product")
FUSE_INTO_CONV = ("relu", "relu6", "leaky-relu")
#: the activation an element-wise add fuses
FUSE_INTO_ADD = ("relu",)


def _replace_uses(g: QGraph, old: str, new: str) -> None:
    for n in g.nodes:
        n.inputs = [new if i == old else i for i in n.inputs]
    g.outputs = [new if o == old else o for o in g.outputs]


def _remove(g: QGraph, node: Node) -> None:
    g.nodes = [n for n in g.nodes if n is not node]


def _absorb(g: QGraph, keep: Node, gone: Node) -> None:
    """``keep`` now computes ``gone``'s value and ``gone`` leaves the graph; when ``gone`` is a graph
    output, ``keep`` takes its name, so output names survive folding and fusion."""
    was_output = gone.name in g.outputs
    _replace_uses(g, gone.name, keep.name)
    _remove(g, gone)
    if was_output:
        old, keep.name = keep.name, gone.name
        _replace_uses(g, old, keep.name)


def convert_sigmoids(g: QGraph, silu_to_hswish: bool, sigmoid_to_hsigmoid: bool) -> None:
    users = g.users()
    if silu_to_hswish:
        for mul in [n for n in g.nodes if n.kind == "mul" and len(n.inputs) == 2]:
            for x, s in (mul.inputs, mul.inputs[::-1]):
                sig = g.node(s)
                if sig.kind == "sigmoid" and sig.inputs == [x] and len(users[s]) == 1 and s not in g.outputs:
                    mul.kind, mul.inputs, mul.quant, mul.reason = "hard-swish", [x], "own", ""
                    mul.attrs["from_silu"] = True
                    _remove(g, sig)
                    users = g.users()
                    break
    if sigmoid_to_hsigmoid:
        for sig in [n for n in g.nodes if n.kind == "sigmoid"]:
            sig.kind, sig.quant, sig.reason = "hard-sigmoid", "own", ""
            sig.attrs["from_sigmoid"] = True


def _scalar(n: Node, kind: str, value: float) -> bool:
    """Whether ``n`` is ``x <kind> value`` with a constant (either side for add and mul)."""
    if n.kind != kind or "scalar" not in n.attrs or abs(n.attrs["scalar"] - value) > 1e-6 * max(1.0, abs(value)):
        return False
    return kind in ("add", "mul") or not n.attrs.get("reverse")


def recognize_hard_sigmoids(g: QGraph) -> None:
    """Hand-written hard-sigmoid and hard-swish (as many MobileNetV3 sources write them) are the same
    functions as torch's: ``relu6(x + 3) / 6`` (or ``* (1/6)``) becomes one ``hard-sigmoid`` node,
    ``x * hard-sigmoid(x)`` and ``x * relu6(x + 3) / 6`` one ``hard-swish`` node, so the DPU's ALU runs them instead of three CPU
    ops (the quantized semantics of both are docs/numerics.md's hard-sigmoid / hard-swish either way)."""
    users = g.users()

    def only_user(name):
        return users[name][0] if len(users[name]) == 1 and name not in g.outputs else None

    def sixth(n):
        return n is not None and (_scalar(n, "div", 6.0) or _scalar(n, "mul", 1.0 / 6.0))

    for add in [n for n in g.nodes if _scalar(n, "add", 3.0)]:
        r = only_user(add.name)
        if r is None or r.kind != "relu6":
            continue
        d = only_user(r.name)
        x = add.inputs[0]
        if d is not None and d.kind == "mul" and len(d.inputs) == 2 and sorted(d.inputs) == sorted([x, r.name]) \
                and sixth(only_user(d.name)):            # (x * relu6(x + 3)) / 6
            out = only_user(d.name)
            out.kind, out.inputs, out.quant, out.reason, out.attrs = "hard-swish", [x], "own", "", \
                {"from_hand_written": True}
            for dead in (d, r, add):
                _remove(g, dead)
            users = g.users()
            continue
        if not sixth(d):
            continue
        d.kind, d.inputs, d.quant, d.reason, d.attrs = "hard-sigmoid", list(add.inputs), "own", "", \
            {"from_hand_written": True}
        _remove(g, r)
        _remove(g, add)
        users = g.users()
    for mul in [n for n in g.nodes if n.kind == "mul" and len(n.inputs) == 2]:
        for x, h in (mul.inputs, mul.inputs[::-1]):
            hs = g.node(h)
            if hs.kind == "hard-sigmoid" and hs.inputs == [x] and len(users[h]) == 1 and h not in g.outputs \
                    and not hs.attrs.get("from_sigmoid"):    # a converted SiLU is convert_silu_to_hswish's call
                mul.kind, mul.inputs, mul.quant, mul.reason = "hard-swish", [x], "own", ""
                mul.attrs["from_hand_written"] = True
                _remove(g, hs)
                users = g.users()
                break


def convert_relu6(g: QGraph) -> None:
    for n in g.nodes:
        if n.kind == "relu6":
            n.kind = "relu"
            n.attrs["from_relu6"] = True


def bn_scale_shift(p: dict, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """BatchNorm as ``y = x * scale + shift`` (running statistics)."""
    gamma = p.get("weight", torch.ones_like(p["running_mean"]))
    beta = p.get("bias", torch.zeros_like(p["running_mean"]))
    scale = gamma / torch.sqrt(p["running_var"] + eps)
    return scale, beta - p["running_mean"] * scale


def fold_into(kind: str, groups: int, w: torch.Tensor, b: torch.Tensor | None, scale: torch.Tensor,
              shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of a conv / transposed conv / dense layer followed by ``x * scale + shift``."""
    if kind == "transposed-conv2d":   # [in, out/g, kh, kw]: out channels on dim 1
        wg = w.reshape(groups, w.shape[0] // groups, w.shape[1], *w.shape[2:])
        wf = (wg * scale.reshape(groups, 1, -1, 1, 1)).reshape(w.shape)
    else:
        wf = w * scale.reshape(-1, *([1] * (w.dim() - 1)))
    b = b if b is not None else torch.zeros_like(scale)
    return wf, b * scale + shift



def fold_batchnorm(g: QGraph, keep: bool = False) -> None:
    """Fold BatchNorm (see the module rules). With ``keep`` (QAT) the graph gets the same structure
    but each BatchNorm's parameters stay on the node that absorbs it, as ``bn.<key>`` params with
    ``attrs["bn_eps"]``; :func:`fold_kept_batchnorm` later folds them with the same arithmetic."""
    users = g.users()
    for bn in [n for n in g.nodes if n.kind == "batchnorm"]:
        p = bn.params
        prod = g.node(bn.inputs[0])
        if prod.kind in CONV_LIKE and prod.act is None and len(users[prod.name]) == 1 \
                and prod.name not in g.outputs:
            if keep:
                prod.params.update({f"bn.{k}": v for k, v in p.items()})
                prod.param_names.update({f"bn.{k}": v for k, v in bn.param_names.items()})
                prod.attrs["bn_eps"] = bn.attrs["eps"]
            else:
                scale, shift = bn_scale_shift(p, bn.attrs["eps"])
                prod.params["weight"], prod.params["bias"] = fold_into(
                    prod.kind, prod.attrs.get("groups", 1), prod.params["weight"], prod.params.get("bias"),
                    scale, shift)
            prod.param_names.setdefault("bias", (prod.param_names["weight"].rsplit(".", 1)[0] + ".bias"))
            prod.attrs["folded_bn"] = bn.scope or bn.name
            _absorb(g, prod, bn)
        else:
            c, eps = p["running_mean"].numel(), bn.attrs["eps"]
            bn.kind = "conv2d"
            bn.attrs = {"stride": (1, 1), "padding": (0, 0), "dilation": (1, 1), "groups": c, "from_bn": True}
            names = {"weight": f"{bn.scope or bn.name}.weight", "bias": f"{bn.scope or bn.name}.bias"}
            if keep:
                bn.attrs["bn_eps"] = eps
                bn.param_names = {**{f"bn.{k}": v for k, v in bn.param_names.items()}, **names}
                bn.params = {f"bn.{k}": v for k, v in p.items()}
            else:
                scale, shift = bn_scale_shift(p, eps)
                bn.params = {"weight": scale.reshape(c, 1, 1, 1).clone(), "bias": shift.clone()}
                bn.param_names = names
        users = g.users()


def kept_bn(n: Node) -> dict[str, torch.Tensor] | None:
    """The BatchNorm parameters a node carries under ``fold_batchnorm(keep=True)`` (None if none)."""
    return {k[3:]: v for k, v in n.params.items() if k.startswith("bn.")} if "bn_eps" in n.attrs else None


def folded_params(n: Node, params: dict[str, torch.Tensor], bn: dict[str, torch.Tensor] | None = None
                  ) -> dict[str, torch.Tensor]:
    """Weight and bias of a node with a kept BatchNorm, folded like ``fold_batchnorm`` folds it;
    ``params`` holds the node's own tensors (and ``bn.*`` ones), ``bn`` may override the statistics."""
    bn = bn if bn is not None else {k[3:]: v for k, v in params.items() if k.startswith("bn.")}
    scale, shift = bn_scale_shift(bn, n.attrs["bn_eps"])
    if n.attrs.get("from_bn"):
        return {"weight": scale.reshape(-1, 1, 1, 1).clone(), "bias": shift.clone()}
    w, b = fold_into(n.kind, n.attrs.get("groups", 1), params["weight"], params.get("bias"), scale, shift)
    return {"weight": w, "bias": b}


def fold_kept_batchnorm(g: QGraph, values: dict[str, dict[str, torch.Tensor]] | None = None) -> None:
    """Fold the BatchNorms ``fold_batchnorm(keep=True)`` kept: the graph becomes the one
    ``fold_batchnorm`` makes (same structure, same fingerprint); ``values`` (node -> params) replaces
    the captured tensors with trained ones."""
    for n in g.nodes:
        if values and n.name in values:
            n.params = dict(values[n.name])
        if "bn_eps" in n.attrs:
            n.params = folded_params(n, n.params)
            n.attrs.pop("bn_eps")
            n.param_names = {k: v for k, v in n.param_names.items() if not k.startswith("bn.")}


def fuse_activations(g: QGraph) -> None:
    users = g.users()
    for act in [n for n in g.nodes if n.kind in ACTIVATIONS]:
        if act.kind == "leaky-relu":
            if abs(act.attrs["alpha"] - DPU_LEAKY_SLOPE) > 0.01:
                act.quant, act.reason = "float", f"LeakyReLU slope {act.attrs['alpha']} is not the DPU's 26/256"
                continue
            act.attrs["alpha"] = DPU_LEAKY_SLOPE
        prod = g.node(act.inputs[0])
        ok = (len(users[prod.name]) == 1 and prod.act is None and prod.name not in g.outputs
              and prod.quant == "own")
        if ok and ((prod.kind in CONV_LIKE and act.kind in FUSE_INTO_CONV) or
                   (prod.kind == "add" and act.kind in FUSE_INTO_ADD)):
            prod.act, prod.act_attrs = act.kind, dict(act.attrs)
            _absorb(g, prod, act)
            users = g.users()


def assign_roles(g: QGraph) -> None:
    """Settle each node's quant role and whether its output carries a fix position (``fixed``)."""
    fixed: dict[str, bool] = {}
    for n in g.nodes:
        if n.kind == "input" and n.quant != "float":   # float only outside QuantStub regions (vaiq.regions)
            n.quant = "own"
        elif n.kind == "torch" or n.quant == "float":
            n.quant = "float"
        elif n.quant == "shared":
            if not all(fixed[i] for i in n.inputs):
                n.quant, n.reason = "float", "its input is a float tensor"
        elif n.quant == "own":
            pass
        fixed[n.name] = n.quant in ("own", "shared") or bool(n.attrs.get("quant_point"))
        n.attrs.pop("fixed_out", None)
    users = g.users()
    for n in g.nodes:
        if n.quant == "float" and (any(u.quant in ("own", "shared") for u in users[n.name])
                                   or n.attrs.get("quant_point")):
            n.attrs["fixed_out"] = True
    # a quantized node reading a float tensor that has no fix must not exist
    for n in g.nodes:
        if n.quant in ("own", "shared"):
            for i in n.inputs:
                src = g.node(i)
                if src.quant == "float" and not src.attrs.get("fixed_out"):
                    src.attrs["fixed_out"] = True


def has_fix(n: Node) -> bool:
    """Whether the node's output tensor carries a fix position."""
    return n.quant in ("own", "shared") or bool(n.attrs.get("fixed_out"))


def prepare(g: QGraph, silu_to_hswish: bool = False, sigmoid_to_hsigmoid: bool = False,
            relu6_to_relu: bool = False, keep_bn: bool = False) -> QGraph:
    """All the rules above; ``keep_bn`` (QAT) keeps BatchNorm parameters unfolded on their nodes."""
    convert_sigmoids(g, silu_to_hswish, sigmoid_to_hsigmoid)
    recognize_hard_sigmoids(g)
    if relu6_to_relu:
        convert_relu6(g)
    fold_batchnorm(g, keep=keep_bn)
    fuse_activations(g)
    assign_roles(g)
    return g
