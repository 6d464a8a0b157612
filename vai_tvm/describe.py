"""Relax pattern matches as the placement rules see them: the fixed op the compiler makes of them.

Rule: vai_tvm restates none of the compiler's rules. A match (a Relax conv / transposed conv / matmul / add /
pool / nearest resize / mean / concat / reshape call and the activation fused into it; NCHW tensors and OIHW
(IOHW) weights, as TVM's ONNX importer writes them) is written as the small deploy graph vaiq's exporter
writes for such a layer (xir ops of ``xir/ops``, NHWC, a ``fix`` after every input, weight and the output),
that graph is canonicalised by the compiler's own ``xir.transforms.canonicalize`` (fix folding, dense -> 1x1
conv, ...) and the fixed op carrying the match's value is described by ``xir.target.describe.describe_op``.
Whether the DPU takes it is ``xir.target.placement.misfit``'s answer. Only the spelling of Relax in xir is
written here: (h, w) pairs become xir's (w, h), Relax's padding (top, left, bottom, right) becomes (left,
right, top, bottom), a 4-D axis its NHWC axis (``xir.ops.layout.NCHW_TO_NHWC_AXIS``), and the op kind of a
grouped conv is ``xir.ops.conv.conv_kind``'s. Weights are zeros and fix positions placeholders (0, 8 bits): no
placement rule reads values or positions (``vaiq/describe.py`` judges its graphs the same way).
"""
from __future__ import annotations

import numpy as np

import xir
from xir.ops.conv import conv_kind, conv_weight_dims
from xir.ops.layout import NCHW_TO_NHWC_AXIS
from xir.target.describe import describe_op
from xir.target.placement import OpDesc
from xir.transforms import canonicalize
from xir.transforms.dense_to_conv import conv_name

from tvm import relax

from .relax_util import clip_bounds, const_value, op_name, shape_of

#: the placeholder fix of every quantized tensor of a match's graph
_FIX = {"fix_point": 0, "bit_width": 8, "round_mode": "STD_ROUND", "if_signed": True}
#: the NHWC -> NCHW transpose a reshape reads an image through (vaiq's exporter does the same)
_TO_NCHW = [0, 3, 1, 2]


def _wh(pair) -> list[int]:
    h, w = (int(v) for v in pair)
    return [w, h]


def _pad(padding) -> list[int]:
    top, left, bottom, right = (int(v) for v in padding)
    return [left, right, top, bottom]


def _nhwc(shape) -> list[int]:
    s = [int(v) for v in shape]
    return [s[0], s[2], s[3], s[1]] if len(s) == 4 else s


class _Match:
    """The deploy graph of one match; ``judge`` canonicalises it and describes the op carrying its value."""

    def __init__(self):
        self.g = xir.Graph("vai_tvm_match")
        self.n_inputs = 0

    def fix(self, src: xir.Op, name: str) -> xir.Op:
        return self.g.create_op(name, "fix", dict(_FIX), {"input": [src]})

    def data(self, expr=None, shape=None) -> xir.Op:
        """A quantized input of the match, of ``expr``'s shape or ``shape`` (NCHW; NHWC in the graph)."""
        name = f"in{self.n_inputs}"
        self.n_inputs += 1
        dims = _nhwc(shape_of(expr) if shape is None else shape)
        d = self.g.create_op(name, "data", {"shape": dims, "data_type": "float32"})
        return self.fix(d, f"{name}_fix")

    def const(self, name: str, dims) -> xir.Op:
        return self.fix(self.g.create_const_op(name, np.zeros(dims, np.float32)), f"{name}_fix")

    def op(self, kind: str, attrs: dict, inputs: dict) -> xir.Op:
        return self.g.create_op("op", kind, attrs, inputs)

    def output(self, op: xir.Op, act_call=None) -> str:
        """The match's value: ``op``, its fused activation, its fix; the name of that fix."""
        if act_call is not None:
            kind, attrs = activation(act_call)
            op = self.g.create_op("act", kind, attrs, {"input": [op]})
        return self.fix(op, "out").get_name()

    def judge(self, carrier: str) -> OpDesc:
        h, _ = canonicalize(self.g)
        if h.has_op(conv_name(carrier)):          # a dense layer's value is carried by its 1x1 conv
            carrier = conv_name(carrier)
        return describe_op(h.get_op(carrier))


def _bound(e, var2val):
    return var2val.get(e, e) if isinstance(e, relax.Var) else e


def hard_swish_input(call, var2val):
    """x of ``x * (clip(x + 3, 0, 6) / 6)`` (the importer's HardSwish) for its multiply ``call``, else None
    (``var2val`` resolves the variables between the calls)."""
    x, g = call.args
    div = _bound(g, var2val)
    if op_name(div) != "relax.divide" or const_value(div.args[1], var2val) != 6:
        return None
    clip = _bound(div.args[0], var2val)
    if op_name(clip) != "relax.clip" or clip_bounds(clip) != (0.0, 6.0):
        return None
    add = _bound(clip.args[0], var2val)
    if op_name(add) != "relax.add" or not add.args[0].same_as(x) or const_value(add.args[1], var2val) != 3:
        return None
    return x


def hard_sigmoid_input(call, var2val):
    """x of ``clip(x * 1/6 + 1/2, 0, 1)`` (the importer's HardSigmoid with alpha 1/6 and beta 1/2, what vaiq
    quantizes as the DPU's hard-sigmoid) for its clip ``call``, else None."""
    if clip_bounds(call) != (0.0, 1.0):
        return None
    add = _bound(call.args[0], var2val)
    if op_name(add) != "relax.add" or const_value(add.args[1], var2val) != 0.5:
        return None
    mul = _bound(add.args[0], var2val)
    if op_name(mul) != "relax.multiply":
        return None
    for k, x in (mul.args, reversed(mul.args)):
        c = const_value(k, var2val)
        if c is not None and c.size == 1 and np.float32(c) == np.float32(1 / 6) and const_value(x, var2val) is None:
            return x
    return None


def lone_activation_desc(ann: dict, var2val) -> OpDesc:
    """A hard-swish or hard-sigmoid on its own (the op before it does not fuse it), from the annotated
    calls of its pattern (``vai_tvm.partition._hard_acts``); ValueError when its constants are not those
    of ONNX HardSwish / HardSigmoid(1/6, 1/2)."""
    if "hswish_add" in ann:
        kind, x = "hard-swish", hard_swish_input(ann["act"], var2val)
    else:
        kind, x = "hard-sigmoid", hard_sigmoid_input(ann["act"], var2val)
    if x is None:
        raise ValueError(f"not the {kind} the DPU computes")
    m = _Match()
    return m.judge(m.output(m.op(kind, {}, {"input": [m.data(x)]})))


def activation(call) -> tuple[str, dict]:
    """The xir activation op of a fused Relax activation call."""
    if call.op.name == "relax.nn.relu":
        return "relu", {}
    if call.op.name == "relax.nn.leakyrelu":
        # a slope that is not the DPU's 26/256 is kept float by vaiq (vaiq/prepare.py) and so becomes a
        # CPU subgraph inside the compiled partition: the slope is not judged here
        return "leaky-relu", {"alpha": float(call.attrs.alpha)}
    if call.op.name == "relax.clip":
        if clip_bounds(call) == (0.0, 6.0):
            return "relu6", {}
        raise ValueError(f"clip{clip_bounds(call)} is not ReLU6")
    raise ValueError(f"{call.op.name} is not an activation the DPU fuses")


def conv_desc(call, act_call, with_bias: bool) -> OpDesc | None:
    a = call.attrs
    if a.data_layout != "NCHW" or a.kernel_layout != "OIHW":
        return None
    cout, cin_g, kh, kw = shape_of(call.args[1])            # OIHW: [out, in/group, kh, kw]
    cin = int(shape_of(call.args[0])[1])
    groups = int(a.groups)
    kind = conv_kind(cin, groups, cin_g)
    m = _Match()
    attrs = {"kernel": [kw, kh], "stride": _wh(a.strides), "dilation": _wh(a.dilation), "pad": _pad(a.padding),
             "pad_mode": "FLOOR"}
    if kind == "conv2d":
        attrs["group"] = groups
    ins = {"input": [m.data(call.args[0])],
           "weights": [m.const("weights", conv_weight_dims(kind, cout, cin_g, kh, kw, cin))]}
    if with_bias:
        ins["bias"] = [m.const("bias", [cout])]
    return m.judge(m.output(m.op(kind, attrs, ins), act_call))


def conv_transpose_desc(call, act_call, with_bias: bool) -> OpDesc | None:
    """A transposed conv with constant IOHW weights ([in, out/group, kh, kw], as ONNX ConvTranspose): the
    ``transposed-conv2d`` vaiq's exporter writes (weights [out, kh, kw, in/group], pads as given)."""
    a = call.attrs
    if a.data_layout != "NCHW" or a.kernel_layout != "IOHW":
        return None
    cin, cout_g, kh, kw = shape_of(call.args[1])
    groups = int(a.groups)
    cout = cout_g * groups
    m = _Match()
    attrs = {"kernel": [kw, kh], "stride": _wh(a.strides), "dilation": _wh(a.dilation), "pad": _pad(a.padding),
             "pad_mode": "FLOOR", "group": groups, "output_padding": _wh(a.output_padding)}
    ins = {"input": [m.data(call.args[0])], "weights": [m.const("weights", [cout, kh, kw, cin // groups])]}
    if with_bias:
        ins["bias"] = [m.const("bias", [cout])]
    return m.judge(m.output(m.op("transposed-conv2d", attrs, ins), act_call))


def upsample_factors(call) -> tuple[int, int] | None:
    """(h, w) factors of a nearest resize that is an ``upsample`` (every output pixel reads source pixel
    ``floor(out / factor)``: asymmetric coordinates, floor rounding, integer factors), else None."""
    a = call.attrs
    if a.layout != "NCHW" or a.method != "nearest_neighbor" or a.coordinate_transformation_mode != "asymmetric" \
            or a.rounding_method != "floor":
        return None
    _, _, h, w = shape_of(call.args[0])
    _, _, ho, wo = shape_of(call)
    if ho % h or wo % w:
        return None
    return ho // h, wo // w


def upsample_desc(call) -> OpDesc | None:
    """A nearest resize by integer factors: xir's ``upsample`` (vaiq's exporter writes one for such a resize)."""
    f = upsample_factors(call)
    if f is None:
        return None
    m = _Match()
    return m.judge(m.output(m.op("upsample", {"scale": [f[1], f[0]], "mode": "NEAREST"},
                                 {"input": [m.data(call.args[0])]})))


def linear_desc(call, act_call, with_bias: bool) -> OpDesc | None:
    """A matmul of a 2-D input with constant [in, out] weights (the importer's transposed Gemm)."""
    if len(shape_of(call.args[0])) != 2:
        return None
    k, n_out = shape_of(call.args[1])
    m = _Match()
    ins = {"input": [m.data(call.args[0])], "weights": [m.const("weights", [n_out, k])]}
    if with_bias:
        ins["bias"] = [m.const("bias", [n_out])]
    return m.judge(m.output(m.op("inner-product", {"axis": 1}, ins), act_call))


def pool_desc(call) -> OpDesc | None:
    a = call.attrs
    if a.layout != "NCHW" or any(int(d) != 1 for d in a.dilation):     # xir's pools have no dilation
        return None
    kind = "maxpool2d" if call.op.name == "relax.nn.max_pool2d" else "avgpool2d"
    attrs = {"kernel": _wh(a.pool_size), "stride": _wh(a.strides), "pad": _pad(a.padding),
             "pad_mode": "CEIL" if a.ceil_mode else "FLOOR"}
    if kind == "avgpool2d":
        attrs["count_include_pad"] = bool(a.count_include_pad)
    m = _Match()
    return m.judge(m.output(m.op(kind, attrs, {"input": [m.data(call.args[0])]})))


def global_mean_desc(call) -> OpDesc | None:
    """A mean over the plane of a 4-D NCHW tensor keeping its dims (ONNX GlobalAveragePool): the average
    pool with the plane as its window that vaiq makes of such a mean (vaiq/aten_map.py mean_dim)."""
    axes = [int(v) for v in call.attrs.axis] if call.attrs.axis is not None else []
    shape = shape_of(call.args[0])
    if len(shape) != 4 or sorted(x % 4 for x in axes) != [2, 3] or not bool(call.attrs.keepdims):
        return None
    h, w = shape[2], shape[3]
    m = _Match()
    attrs = {"kernel": [w, h], "stride": [w, h], "pad": [0, 0, 0, 0], "pad_mode": "FLOOR", "count_include_pad": True}
    return m.judge(m.output(m.op("avgpool2d", attrs, {"input": [m.data(call.args[0])]})))


def add_desc(call, act_call) -> OpDesc:
    """An add of two computed tensors."""
    m = _Match()
    return m.judge(m.output(m.op("add", {}, {"input": [m.data(x) for x in call.args]}), act_call))


def mul_desc(call) -> OpDesc | None:
    """An image [N, C, H, W] times a computed [N, C, 1, 1] gate (squeeze-excite); None for other products
    (two images, as between two CPU ops, stay with TVM)."""
    a, b = (shape_of(x) for x in call.args)
    if len(a) != 4 or len(b) != 4 or a[:2] != b[:2] or sorted([tuple(a[2:]), tuple(b[2:])])[0] != (1, 1) \
            or a[2:] == b[2:]:
        return None
    m = _Match()
    return m.judge(m.output(m.op("mul", {}, {"input": [m.data(x) for x in call.args]})))


def concat_desc(call) -> OpDesc:
    rank = len(shape_of(call))
    axis = int(call.attrs.axis) % rank
    m = _Match()
    ins = [m.data(shape=[int(v) for v in t.shape.values]) for t in call.args[0].ty.fields]
    return m.judge(m.output(m.op("concat", {"axis": NCHW_TO_NHWC_AXIS[axis] if rank == 4 else axis},
                                 {"input": ins})))


def reshape_desc(call) -> OpDesc:
    """A reshape of a quantized value: it reads an image in NCHW order and keeps its input's fix."""
    m = _Match()
    x = m.data(call.args[0])
    if len(shape_of(call.args[0])) == 4:
        x = m.g.create_op("to_nchw", "transpose", {"order": _TO_NCHW}, {"input": [x]})
    m.op("reshape", {"shape": [int(v) for v in shape_of(call)]}, {"input": [x]})
    return m.judge("op")
