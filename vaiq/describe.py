"""vaiq graph nodes as the compiler will see them: :class:`xir.target.placement.OpDesc` descriptions.

Rule: a node is described as the fixed op the deploy graph folds into after ``vaic`` canonicalises
it (vaiq/export_xmodel.py, xir.transforms.fold_fix, vaic/passes): torch's (h, w) attributes become
xir's (w, h), a conv whose groups equal its input channels (one input channel per group) becomes a
depthwise conv with multiplier out/in, any other grouped conv stays a grouped ``conv2d-fix``, a dense
layer becomes a 1x1 conv, a separate ReLU / ReLU6 / LeakyReLU / hard-swish becomes a 1x1 identity
depthwise conv carrying the activation, a separate hard-sigmoid becomes ``hard-sigmoid-fix`` (placed
as the identity depthwise conv with HSIGMOID that the backend makes of it), reshape and flatten become ``reshape-fix`` aliases, 4-D concat axes are mapped to NHWC, and a zero
pad that only feeds a conv (or an average pool that counts padding) is folded into that op's padding
when the sum stays within the 15 the pad fields hold.
"""
from __future__ import annotations

from dataclasses import replace

from xir.target.placement import PAD_FIELD_MAX, OpDesc, sliced_axis, takes_folded_pad
from xir.transforms.fold_fix import COMPUTE, PLAIN

from .export_xmodel import NCHW_TO_NHWC_AXIS
from .ir import ACTIVATIONS



def _hw(pair) -> tuple[int, int]:
    """torch's (h, w) as xir's (w, h)."""
    h, w = pair
    return int(w), int(h)


def _window(a: dict) -> dict:
    ph, pw = a.get("padding", (0, 0))
    return dict(stride=_hw(a.get("stride", (1, 1))), pad=(int(pw), int(pw), int(ph), int(ph)),
                dilation=_hw(a.get("dilation", (1, 1))))


def _nhwc(shape) -> tuple[int, ...]:
    """A 4-D torch shape in the deploy graph's NHWC order; other ranks as they are."""
    s = tuple(int(d) for d in shape)
    return (s[0], s[2], s[3], s[1]) if len(s) == 4 else s


def _act(n) -> str:
    return ACTIVATIONS[n.act] if n.act else "NONE"


def _conv(n) -> OpDesc:
    a = n.attrs
    w = n.params["weight"]
    groups = int(a.get("groups", 1))
    kh, kw = int(w.shape[2]), int(w.shape[3])
    common = dict(kernel=(kw, kh), act=_act(n), **_window(a))
    if n.kind == "transposed-conv2d":               # torch weights [in, out/group, kh, kw]
        return OpDesc("transposed-conv2d-fix", "tconv", groups=groups, in_channels=int(w.shape[0]) // groups,
                      out_channels=int(w.shape[1]) * groups, **common)
    cout, cin_g = int(w.shape[0]), int(w.shape[1])  # torch weights [out, in/group, kh, kw]
    if groups > 1 and cin_g == 1:
        return OpDesc("depthwise-conv2d-fix", "dwconv", multiplier=cout // groups, in_channels=groups,
                      out_channels=cout, **common)
    return OpDesc("conv2d-fix", "conv", groups=groups, in_channels=cin_g, out_channels=cout, **common)


def _pool(n) -> OpDesc:
    a = n.attrs
    ph, pw = a.get("padding", (0, 0))
    return OpDesc("pool-fix", "pool", kernel=_hw(a["kernel"]), stride=_hw(a.get("stride", a["kernel"])),
                  pad=(int(pw), int(pw), int(ph), int(ph)), pad_mode="CEIL" if a.get("ceil_mode") else "FLOOR",
                  mode="MAX" if n.kind == "maxpool2d" else "AVG",
                  count_include_pad=bool(a.get("count_include_pad", True)))


def own_desc(n, graph=None) -> OpDesc:
    """The description of a quantized node on its own (no pad folded in); ``graph`` supplies the
    input shapes of element-wise ops (unknown without it)."""
    k = n.kind
    if k in ("conv2d", "transposed-conv2d"):
        return _conv(n)
    if k == "inner-product":
        cout, cin = (int(d) for d in n.params["weight"].shape)
        return OpDesc("conv2d-fix", "conv", in_channels=cin, out_channels=cout, act=_act(n))
    if k in ("maxpool2d", "avgpool2d"):
        return _pool(n)
    if k in ("add", "mul"):
        shapes = None if graph is None else tuple(_nhwc(graph.node(i).shape) for i in n.inputs)
        return OpDesc("eltwise-fix", "eltwise", mode=k.upper(), act=_act(n), n_inputs=len(n.inputs),
                      input_shapes=shapes)
    if k == "concat":
        rank = len(n.shape) or 4
        axis = int(n.attrs.get("dim", 1)) % rank
        return OpDesc("concat-fix", "concat", axis=NCHW_TO_NHWC_AXIS[axis] if rank == 4 else axis, rank=rank)
    if k == "hard-sigmoid":
        return OpDesc("hard-sigmoid-fix", "dwconv", act="HSIGMOID")
    if k in ACTIVATIONS:
        return OpDesc("depthwise-conv2d-fix", "dwconv", act=ACTIVATIONS[k])
    if k in ("reshape", "flatten"):
        return OpDesc("reshape-fix", "alias")
    if k == "upsample":
        return OpDesc("upsample-fix", "upsample")
    if k == "strided_slice":                        # judged as the xir slice of the NHWC tensor
        rank = len(n.shape) or 4
        dim = int(n.attrs["dim"]) % rank
        axis, step = (NCHW_TO_NHWC_AXIS[dim] if rank == 4 else dim), int(n.attrs["step"])
        if graph is not None:
            dims = list(_nhwc(graph.node(n.inputs[0]).shape))
            begin, end, strides = [0] * rank, list(dims), [1] * rank
            begin[axis], end[axis], strides[axis] = n.attrs["start"], n.attrs["end"], step
            axis, step = sliced_axis(dims, begin, end, strides)
        return OpDesc("strided_slice", "slice", axis=axis, step=step, rank=rank)
    return OpDesc(COMPUTE.get(k) or PLAIN.get(k) or k, None)


def pad_folded_into(n, graph):
    """The node a zero ``pad`` node ``n`` is folded into by the compiler, or None (vaic's fold_pad)."""
    if graph is None or n.kind != "pad" or n.quant == "float" or float(n.attrs.get("value", 0.0)) != 0.0:
        return None
    users = graph.users()[n.name]
    if len(users) != 1 or users[0].quant == "float":
        return None
    u = users[0]
    d = own_desc(u, graph)
    if not takes_folded_pad(d.kind, d.mode, d.count_include_pad, d.pad_mode):
        return None
    if max(x + y for x, y in zip(d.pad, n.attrs["pad"])) > PAD_FIELD_MAX:
        return None
    return u


def describe(n, graph=None) -> OpDesc:
    """The description of quantized node ``n`` as the compiler will place it (with ``graph``, a zero
    pad in front of it that the compiler folds is part of its padding)."""
    d = own_desc(n, graph)
    if graph is not None and d.engine in ("conv", "dwconv", "pool") and n.inputs:
        src = graph.node(n.inputs[0])
        if pad_folded_into(src, graph) is n:
            pad = tuple(x + int(y) for x, y in zip(d.pad, src.attrs["pad"]))
            d = replace(d, pad=pad)
    return d
