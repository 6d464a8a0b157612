"""Relax ops as the placement rules see them: :class:`xir.target.placement.OpDesc` descriptions.

Rule: a Relax call (NCHW tensors, OIHW weights, as TVM's ONNX importer writes them) is described as the
fixed op vaiq's exporter and vaic make of it: (h, w) attributes become xir's (w, h), Relax's padding
(top, left, bottom, right) becomes (left, right, top, bottom), a conv with one input channel per group
becomes a depthwise conv, a matmul with constant weights a 1x1 conv, a mean over the plane a global average
pool, an add of two computed tensors an element-wise ADD (shapes NHWC), a channel concat axis 3 and a
reshape an alias. Whether the DPU takes it is ``xir.target.placement.misfit``'s answer, not decided here.
"""
from __future__ import annotations

from vaiq.export_xmodel import NCHW_TO_NHWC_AXIS
from xir.target.placement import OpDesc

from .relax_util import const_value, shape_of

#: Relax activation ops -> the xmodel ``nonlinear`` names (the ones a pattern fuses into its op)
ACTIVATIONS = {"relax.nn.relu": "RELU", "relax.nn.leakyrelu": "LEAKYRELU"}


def _wh(pair) -> tuple[int, int]:
    h, w = (int(v) for v in pair)
    return w, h


def _pad(padding) -> tuple[int, int, int, int]:
    top, left, bottom, right = (int(v) for v in padding)
    return left, right, top, bottom


def _nhwc(shape) -> tuple[int, ...]:
    s = tuple(shape)
    return (s[0], s[2], s[3], s[1]) if len(s) == 4 else s


def act_of(call) -> str:
    """The xmodel activation name of a fused activation call (or NONE without one)."""
    if call is None:
        return "NONE"
    # a LeakyReLU whose slope is not the DPU's 26/256 is kept float by vaiq (vaiq/prepare.py) and so
    # becomes a CPU subgraph inside the compiled partition: its slope is not judged here
    return ACTIVATIONS[call.op.name]


def conv_desc(call, act: str, var2val=None) -> OpDesc:
    a = call.attrs
    w = const_value(call.args[1], var2val)          # OIHW: [out, in/group, kh, kw]
    groups = int(a.groups)
    cout, cin_g, kh, kw = (int(d) for d in w.shape)
    common = dict(kernel=(kw, kh), stride=_wh(a.strides), pad=_pad(a.padding), dilation=_wh(a.dilation), act=act)
    if groups > 1 and cin_g == 1:
        return OpDesc("depthwise-conv2d-fix", "dwconv", multiplier=cout // groups, in_channels=groups,
                      out_channels=cout, **common)
    return OpDesc("conv2d-fix", "conv", groups=groups, in_channels=cin_g, out_channels=cout, **common)


def linear_desc(call, act: str, var2val=None) -> OpDesc:
    w = const_value(call.args[1], var2val)          # [in, out] (the importer's transposed Gemm weight)
    return OpDesc("conv2d-fix", "conv", in_channels=int(w.shape[0]), out_channels=int(w.shape[1]), act=act)


def pool_desc(call) -> OpDesc:
    a = call.attrs
    return OpDesc("pool-fix", "pool", kernel=_wh(a.pool_size), stride=_wh(a.strides), pad=_pad(a.padding),
                  pad_mode="CEIL" if a.ceil_mode else "FLOOR",
                  mode="MAX" if call.op.name == "relax.nn.max_pool2d" else "AVG",
                  count_include_pad=bool(a.count_include_pad) if call.op.name != "relax.nn.max_pool2d" else True,
                  dilation=_wh(a.dilation))


def global_pool_desc(call) -> OpDesc:
    n, c, h, w = shape_of(call.args[0])
    return OpDesc("pool-fix", "pool", kernel=(w, h), stride=(w, h), mode="AVG", global_pool=True)


def eltwise_desc(call, act: str) -> OpDesc:
    shapes = tuple(_nhwc(shape_of(x)) for x in call.args)
    return OpDesc("eltwise-fix", "eltwise", mode="ADD", act=act, n_inputs=len(call.args), input_shapes=shapes)


def concat_desc(call) -> OpDesc:
    rank = len(shape_of(call))
    axis = int(call.attrs.axis) % rank
    return OpDesc("concat-fix", "concat", axis=NCHW_TO_NHWC_AXIS[axis] if rank == 4 else axis, rank=rank)


def is_global_mean(call) -> bool:
    """A mean over the plane of a 4-D NCHW tensor keeping its dims (ONNX GlobalAveragePool)."""
    axes = [int(v) for v in call.attrs.axis] if call.attrs.axis is not None else []
    rank = len(shape_of(call.args[0]))
    return rank == 4 and sorted(a % 4 for a in axes) == [2, 3] and bool(call.attrs.keepdims)

