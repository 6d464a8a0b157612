"""An op of the canonical (fixed-point, NHWC) graph as the placement rules see it: an
:class:`~xir.target.placement.OpDesc`.

Rule: a fixed op names its engine by type (``ENGINE_OF``; a hard-sigmoid is the identity depthwise
conv with HSIGMOID the backend makes of it, a fixed slice is a view when it cuts channels, reshape is
an alias of the same NHWC bytes); conv weights are ``[out | multiplier, kh, kw, in/group | in]``,
kernels and strides ``(w, h)``, a global pool's kernel is its input plane. The compiler (vaic) and
the quantizer's estimate (``vaiq inspect``, after the same canonicalisation) both describe ops here.
"""
from __future__ import annotations

from xir.target.placement import OpDesc, sliced_axis

#: ops that only move NHWC DDR data (the same bytes)
ALIAS_OPS = ("reshape-fix", "upload", "download")
ENGINE_OF = {"conv2d-fix": "conv", "depthwise-conv2d-fix": "dwconv", "transposed-conv2d-fix": "tconv",
             "pool-fix": "pool", "eltwise-fix": "eltwise", "concat-fix": "concat",
             "hard-sigmoid-fix": "dwconv",                  # an identity depthwise conv with HSIGMOID
             "strided_slice": "slice",                      # a fixed slice: a view when it cuts channels
             "upsample-fix": "upsample",                    # LOAD once, SAVE once per output phase
             **{k: "alias" for k in ALIAS_OPS}}


def describe_op(op) -> OpDesc:
    """The placement description of one op (an ``xir.Op``) of the canonical graph."""
    kind = op.get_type()
    eng = ENGINE_OF.get(kind)
    a = op.get_attr_or_default
    if kind == "hard-sigmoid-fix":
        c = op.get_input_tensor("input").dims[-1]
        return OpDesc(kind, eng, in_channels=c, out_channels=c, act="HSIGMOID")
    if eng in ("conv", "dwconv", "tconv"):
        w = op.get_input_tensor("weights").dims          # [out | multiplier, kh, kw, in/group | in]
        common = dict(kernel=tuple(a("kernel")), stride=tuple(a("stride")), pad=tuple(a("pad")),
                      pad_mode=a("pad_mode"), dilation=tuple(a("dilation")), act=a("nonlinear"))
        if eng == "dwconv":
            return OpDesc(kind, eng, multiplier=w[0], in_channels=w[3], out_channels=w[0] * w[3], **common)
        return OpDesc(kind, eng, groups=a("group"), out_channels=w[0], in_channels=w[3], **common)
    if eng == "pool":
        glob = bool(a("global"))
        x = op.get_input_tensor("input").dims
        return OpDesc(kind, eng, kernel=(x[2], x[1]) if glob else tuple(op.get_attr("kernel")),
                      stride=tuple(a("stride")), pad=tuple(a("pad")), pad_mode=a("pad_mode"), act=a("nonlinear"),
                      mode=op.get_attr("type"), count_include_pad=bool(a("count_include_pad")), global_pool=glob)
    if eng == "eltwise":
        xs = op.get_input_tensors("input")
        return OpDesc(kind, eng, mode=op.get_attr("type"), act=a("nonlinear"), n_inputs=len(xs),
                      input_shapes=tuple(tuple(x.dims) for x in xs))
    if eng == "concat":
        return OpDesc(kind, eng, axis=op.get_attr("axis"), rank=len(op.get_output_tensor().dims))
    if eng == "slice":
        dims = op.get_input_tensor("input").dims
        axis, step = sliced_axis(dims, a("begin"), a("end"), a("strides"))
        return OpDesc(kind, eng, axis=axis, step=step, rank=len(dims))
    return OpDesc(kind, eng)
