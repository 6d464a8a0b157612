"""Executors of the fixed ops: each one reads the fix positions from tensor attributes and calls its
reference kernel (xir.kernels), so a graph runs exactly as docs/numerics.md defines it."""
from __future__ import annotations

import numpy as np

from .. import fixpoint, kernels
from ..graph import Op
from ..ops._shape import explicit_pads


def fp(op: Op, arg: str | None = None, idx: int = 0) -> int:
    t = op.get_output_tensor() if arg is None else op.get_input_tensor(arg, idx)
    return int(t.get_attr("fix_point"))


def out_kw(op: Op) -> dict:
    t = op.get_output_tensor()
    return {"fp_out": int(t.get_attr("fix_point")),
            "bit_width": int(t.get_attr("bit_width")) if t.has_attr("bit_width") else 8,
            "round_mode": t.get_attr("round_mode") if t.has_attr("round_mode") else "DPU_ROUND"}


def batched(op: Op, like: np.ndarray) -> tuple[int, ...]:
    """The op's output dims with the graph's batch (dims[0]) replaced by the running batch."""
    dims = op.get_output_tensor().dims
    return (like.shape[0],) + tuple(dims[1:])


def _conv_common(op: Op, x: np.ndarray, w: np.ndarray, dilation=True) -> dict:
    kw, kh = op.get_attr_or_default("kernel")
    pads = explicit_pads(op, x.shape[1], x.shape[2], kw, kh, dilation)
    kw_args = {"stride": tuple(op.get_attr_or_default("stride")), "pad": tuple(pads)}
    if dilation:
        kw_args["dilation"] = tuple(op.get_attr_or_default("dilation"))
    return kw_args


def _bias(op: Op, vals):
    if op.get_input_num("bias"):
        return vals[op.get_input_op("bias").name], fp(op, "bias")
    return None, None


def conv2d_fix(op: Op, vals):
    x, w = vals[op.get_input_op("input").name], vals[op.get_input_op("weights").name]
    b, fb = _bias(op, vals)
    return kernels.conv2d_fix(x, w, b, fp_in=fp(op, "input"), fp_w=fp(op, "weights"), fp_b=fb,
                              group=op.get_attr_or_default("group"),
                              nonlinear=op.get_attr_or_default("nonlinear"),
                              **_conv_common(op, x, w), **out_kw(op))


def depthwise_conv2d_fix(op: Op, vals):
    x, w = vals[op.get_input_op("input").name], vals[op.get_input_op("weights").name]
    b, fb = _bias(op, vals)
    return kernels.depthwise_conv2d_fix(x, w, b, fp_in=fp(op, "input"), fp_w=fp(op, "weights"), fp_b=fb,
                                        nonlinear=op.get_attr_or_default("nonlinear"),
                                        **_conv_common(op, x, w), **out_kw(op))


def transposed_conv2d_fix(op: Op, vals):
    x, w = vals[op.get_input_op("input").name], vals[op.get_input_op("weights").name]
    b, fb = _bias(op, vals)
    return kernels.transposed_conv2d_fix(
        x, w, b, fp_in=fp(op, "input"), fp_w=fp(op, "weights"), fp_b=fb,
        stride=tuple(op.get_attr_or_default("stride")), pad=tuple(op.get_attr_or_default("pad")),
        dilation=tuple(op.get_attr_or_default("dilation")), group=op.get_attr_or_default("group"),
        output_padding=tuple(op.get_attr_or_default("output_padding")),
        nonlinear=op.get_attr_or_default("nonlinear"), **out_kw(op))


def inner_product_fix(op: Op, vals):
    x, w = vals[op.get_input_op("input").name], vals[op.get_input_op("weights").name]
    axis = op.get_attr_or_default("axis")
    x2 = x.reshape(int(np.prod(x.shape[:axis])), -1)
    b, fb = _bias(op, vals)
    y = kernels.dense_fix(x2, w, b, fp_in=fp(op, "input"), fp_w=fp(op, "weights"), fp_b=fb,
                          nonlinear=op.get_attr_or_default("nonlinear"), **out_kw(op))
    return y.reshape(batched(op, x))


def eltwise_fix(op: Op, vals):
    xs = [vals[o.name] for o in op.get_input_ops("input")]
    fps = [fp(op, "input", i) for i in range(len(xs))]
    f = kernels.eltwise_add_fix if op.get_attr_or_default("type") == "ADD" else kernels.eltwise_mul_fix
    return f(xs, fps_in=fps, nonlinear=op.get_attr_or_default("nonlinear"), **out_kw(op))


def pool_fix(op: Op, vals):
    x = vals[op.get_input_op("input").name]
    kind = op.get_attr("type")
    if op.get_attr_or_default("global"):
        kernel, stride, pads = (x.shape[2], x.shape[1]), (x.shape[2], x.shape[1]), (0, 0, 0, 0)
    else:
        kernel = tuple(op.get_attr("kernel"))
        stride = tuple(op.get_attr_or_default("stride"))
        pads = tuple(explicit_pads(op, x.shape[1], x.shape[2], kernel[0], kernel[1], dilation=False))
    if kind == "MAX":
        return kernels.maxpool_fix(x, fp_in=fp(op, "input"), kernel=kernel, stride=stride, pad=pads,
                                   **out_kw(op))
    return kernels.avgpool_fix(x, fp_in=fp(op, "input"), kernel=kernel, stride=stride, pad=pads,
                               count_include_pad=op.get_attr_or_default("count_include_pad"),
                               nonlinear=op.get_attr_or_default("nonlinear"), **out_kw(op))


def concat_fix(op: Op, vals):
    xs = [vals[o.name] for o in op.get_input_ops("input")]
    return kernels.concat_fix(xs, fps_in=[fp(op, "input", i) for i in range(len(xs))],
                              axis=op.get_attr("axis"), **out_kw(op))


def hard_sigmoid_fix(op: Op, vals):
    return kernels.hsigmoid_fix(vals[op.get_input_op("input").name], fp_in=fp(op, "input"), **out_kw(op))


def _requant_same(op: Op, y: np.ndarray) -> np.ndarray:
    """Layout-like fixed ops move data; a different output fix position is an exact requantization."""
    fi, kw = fp(op, "input"), out_kw(op)
    if fi == kw["fp_out"]:
        return y
    return fixpoint.requantize(y.astype(np.int64), fi, kw["fp_out"], kw["bit_width"], kw["round_mode"])


def pad_fix(op: Op, vals):
    x = vals[op.get_input_op("input").name]
    p = op.get_attr("paddings")
    cv = op.get_attr_or_default("constant_values")
    const = int(fixpoint.quantize(np.array(cv[0] if cv else 0.0), fp(op, "input"))) if cv else 0
    y = kernels.pad_fix(x, paddings=[(p[2 * i], p[2 * i + 1]) for i in range(x.ndim)],
                        mode=op.get_attr_or_default("mode"), constant_value=const)
    return _requant_same(op, y)


def upsample_fix(op: Op, vals):
    y = kernels.upsample_fix(vals[op.get_input_op("input").name], scale=tuple(op.get_attr("scale")))
    return _requant_same(op, y)


def reshape_fix(op: Op, vals):
    x = vals[op.get_input_op("input").name]
    y = x.reshape(batched(op, x))
    return _requant_same(op, y)


EXECUTORS = {
    "conv2d-fix": conv2d_fix, "depthwise-conv2d-fix": depthwise_conv2d_fix,
    "transposed-conv2d-fix": transposed_conv2d_fix, "inner-product-fix": inner_product_fix,
    "eltwise-fix": eltwise_fix, "pool-fix": pool_fix, "concat-fix": concat_fix,
    "hard-sigmoid-fix": hard_sigmoid_fix, "pad-fix": pad_fix, "upsample-fix": upsample_fix,
    "reshape-fix": reshape_fix,
}
