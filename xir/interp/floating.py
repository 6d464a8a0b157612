"""Executors of the float ops (what CPU subgraphs run): float64 math, float32 results, via
xir.kernels.float_ops where a kernel exists; layout ops move data of either kind unchanged."""
from __future__ import annotations

import numpy as np

from ..kernels import float_ops as F
from ..graph import Op
from ..ops._shape import explicit_pads
from .fixed import batched


def _x(op: Op, vals, arg="input", i=0):
    return vals[op.get_input_op(arg, i).name]


def _f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).astype(np.float32)


def _unary(fn):
    return lambda op, vals: _f32(fn(np.asarray(_x(op, vals), np.float64), op))


def _conv(op: Op, vals, depthwise=False):
    x, w = _x(op, vals), _x(op, vals, "weights")
    b = _x(op, vals, "bias") if op.get_input_num("bias") else None
    kw, kh = op.get_attr("kernel")
    pads = explicit_pads(op, x.shape[1], x.shape[2], kw, kh)
    group = op.get_attr_or_default("group") if not depthwise else x.shape[3]
    if depthwise:  # [M, kh, kw, C] -> [C*M, kh, kw, 1], output channel c*M + m
        m = w.shape[0]
        w = np.transpose(w, (3, 0, 1, 2)).reshape(x.shape[3] * m, kh, kw, 1)
    return F.conv2d_float(x, w, b, stride=tuple(op.get_attr_or_default("stride")), pad=tuple(pads),
                          dilation=tuple(op.get_attr_or_default("dilation")), group=group)


def _inner_product(op: Op, vals):
    x, w = _x(op, vals), _x(op, vals, "weights")
    axis = op.get_attr_or_default("axis")
    y = F.matmul(x.reshape(int(np.prod(x.shape[:axis])), -1), w, transpose_b=True)
    if op.get_input_num("bias"):
        y = F.add(y, _x(op, vals, "bias"))
    return y.reshape(batched(op, x))


def _matmul(op: Op, vals):
    y = F.matmul(_x(op, vals, "input", 0), _x(op, vals, "input", 1),
                 op.get_attr_or_default("transpose_a"), op.get_attr_or_default("transpose_b"))
    return F.add(y, _x(op, vals, "bias")) if op.get_input_num("bias") else y


def _eltwise(fn):
    def run(op: Op, vals):
        xs = [np.asarray(vals[o.name], np.float64) for o in op.get_input_ops("input")]
        acc = xs[0]
        for x in xs[1:]:
            acc = fn(acc, x)
        return _f32(acc)
    return run


def _pool(op: Op, vals):
    x = np.asarray(_x(op, vals), np.float64)
    n, h, w, c = x.shape
    if op.get_attr_or_default("global"):
        kw, kh, sw, sh, pads = w, h, w, h, [0, 0, 0, 0]
    else:
        kw, kh = op.get_attr("kernel")
        sw, sh = op.get_attr_or_default("stride")
        pads = explicit_pads(op, h, w, kw, kh, dilation=False)
    is_max = op.get_type() == "maxpool2d"
    fill = -np.inf if is_max else 0.0
    xp = np.pad(x, ((0, 0), (pads[2], pads[3]), (pads[0], pads[1]), (0, 0)), constant_values=fill)
    oh, ow = op.get_output_tensor().dims[1:3]
    wins = [xp[:, ky:ky + (oh - 1) * sh + 1:sh, kx:kx + (ow - 1) * sw + 1:sw, :]
            for ky in range(kh) for kx in range(kw)]
    if is_max:
        return _f32(np.max(wins, axis=0))
    if op.get_attr_or_default("count_include_pad"):
        return _f32(np.sum(wins, axis=0) / (kh * kw))
    ones = np.pad(np.ones((1, h, w, 1)), ((0, 0), (pads[2], pads[3]), (pads[0], pads[1]), (0, 0)))
    cnt = sum(ones[:, ky:ky + (oh - 1) * sh + 1:sh, kx:kx + (ow - 1) * sw + 1:sw, :]
              for ky in range(kh) for kx in range(kw))
    return _f32(np.sum(wins, axis=0) / cnt)


def _fix(op: Op, vals):
    return F.fix(_x(op, vals), fix_point=op.get_attr("fix_point"), bit_width=op.get_attr_or_default("bit_width"),
                 round_mode=op.get_attr_or_default("round_mode"), if_signed=op.get_attr_or_default("if_signed"))


def _float2fix(op: Op, vals):
    return F.float2fix(_x(op, vals), fix_point=op.get_attr("fix_point"),
                       bit_width=op.get_attr_or_default("bit_width"),
                       round_mode=op.get_attr_or_default("round_mode"),
                       if_signed=op.get_attr_or_default("if_signed"))


def _fix2float(op: Op, vals):
    return F.fix2float(_x(op, vals), fix_point=op.get_input_tensor("input").get_attr("fix_point"))


def _prelu(op: Op, vals):
    x = np.asarray(_x(op, vals), np.float64)
    a = np.asarray(_x(op, vals, "alpha"), np.float64)
    return _f32(np.where(x >= 0, x, x * a))


def _pad(op: Op, vals):
    x = _x(op, vals)
    p = op.get_attr("paddings")
    pw = [(p[2 * i], p[2 * i + 1]) for i in range(x.ndim)]
    mode = op.get_attr_or_default("mode")
    if mode == "CONSTANT":
        cv = op.get_attr_or_default("constant_values")
        return np.pad(x, pw, constant_values=(cv[0] if cv else 0)).astype(x.dtype)
    return np.pad(x, pw, mode="reflect" if mode == "REFLECT" else "symmetric")


def _slice(op: Op, vals):
    """A slice per dim; one that keeps the graph's whole batch (dim 0) keeps the running batch."""
    x = _x(op, vals)
    st = op.get_attr_or_default("strides") or [1] * x.ndim
    sl = [slice(b, e, s) for b, e, s in zip(op.get_attr("begin"), op.get_attr("end"), st)]
    graph_batch = op.get_input_op("input").get_output_tensor().dims[0]
    if sl and (sl[0].start, sl[0].step) == (0, 1) and sl[0].stop >= graph_batch:
        sl[0] = slice(None)
    return x[tuple(sl)]


def _resize(op: Op, vals):
    x = _x(op, vals)
    n, h, w, c = op.get_output_tensor().dims
    return F.resize(x, size=(w, h), mode=op.get_attr_or_default("mode"),
                    align_corners=op.get_attr_or_default("align_corners"),
                    half_pixel_centers=op.get_attr_or_default("half_pixel_centers"))


def _upsample(op: Op, vals):
    sw, sh = op.get_attr("scale")
    return np.repeat(np.repeat(_x(op, vals), sh, axis=1), sw, axis=2)


def _same(op: Op, vals):
    return _x(op, vals)


EXECUTORS = {
    "conv2d": _conv, "depthwise-conv2d": lambda op, v: _conv(op, v, depthwise=True),
    "inner-product": _inner_product, "matmul": _matmul,
    "add": _eltwise(np.add), "sub": _eltwise(np.subtract), "mul": _eltwise(np.multiply),
    "div": _eltwise(np.divide), "max": _eltwise(np.maximum), "min": _eltwise(np.minimum),
    "relu": _unary(lambda x, op: np.maximum(x, 0.0)),
    "relu6": _unary(lambda x, op: np.clip(x, 0.0, 6.0)),
    "leaky-relu": _unary(lambda x, op: np.where(x >= 0, x, x * op.get_attr_or_default("alpha"))),
    "prelu": _prelu,
    "hard-sigmoid": _unary(lambda x, op: np.clip(x + 3.0, 0.0, 6.0) / 6.0),
    "hard-swish": _unary(lambda x, op: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0),
    "sigmoid": lambda op, v: F.sigmoid(_x(op, v)), "tanh": lambda op, v: F.tanh(_x(op, v)),
    "softmax": lambda op, v: F.softmax(_x(op, v), axis=op.get_attr_or_default("axis")),
    "maxpool2d": _pool, "avgpool2d": _pool,
    "concat": lambda op, v: np.concatenate([v[o.name] for o in op.get_input_ops("input")],
                                           axis=op.get_attr("axis")),
    "pad": _pad, "strided_slice": _slice, "resize": _resize, "upsample": _upsample,
    "reshape": lambda op, v: _x(op, v).reshape(batched(op, _x(op, v))),
    "flatten": lambda op, v: _x(op, v).reshape(batched(op, _x(op, v))),
    "transpose": lambda op, v: np.transpose(_x(op, v), op.get_attr("order")),
    "reduction_mean": lambda op, v: F.reduce_mean(_x(op, v), tuple(op.get_attr("axis")),
                                                  op.get_attr_or_default("keep_dims")),
    "reduction_max": lambda op, v: F.reduce_max(_x(op, v), tuple(op.get_attr("axis")),
                                                op.get_attr_or_default("keep_dims")),
    "identity": _same, "upload": _same, "download": _same,
    "fix": _fix, "float2fix": _float2fix, "fix2float": _fix2float,
}
