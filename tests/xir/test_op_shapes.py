"""Shape inference for every op in the op library (a new op type without a case here fails the suite)."""
import numpy as np
import pytest

import xir
from xir.errors import OpDefError
from xir.ops import op_types


def G():
    return xir.Graph("s")


def data(g, name, dims, dtype="float32"):
    return g.create_op(name, "data", {"shape": list(dims), "data_type": dtype})


def const(g, name, dims, dtype=np.float32):
    return g.create_const_op(name, np.zeros(dims, dtype=dtype))


def conv_case(kind, wdims, attrs, in_dims=(2, 9, 11, 8), bias=True):
    def build():
        g = G()
        x = data(g, "x", in_dims)
        w = const(g, "w", wdims)
        ins = {"input": [x], "weights": [w]}
        if bias:
            ins["bias"] = [const(g, "b", (wdims[0] * (in_dims[3] if "depthwise" in kind else 1),))]
        return g.create_op("op", kind, attrs, ins)
    return build


def unary(kind, attrs=None, dims=(2, 5, 7, 3), dtype="float32"):
    def build():
        g = G()
        return g.create_op("op", kind, attrs or {}, {"input": [data(g, "x", dims, dtype)]})
    return build


def multi(kind, dims_list, attrs=None):
    def build():
        g = G()
        xs = [data(g, f"x{i}", d) for i, d in enumerate(dims_list)]
        return g.create_op("op", kind, attrs or {}, {"input": xs})
    return build


def prelu():
    g = G()
    return g.create_op("op", "prelu", {}, {"input": [data(g, "x", (1, 4, 4, 6))], "alpha": [const(g, "a", (6,))]})


def const_op(kind):
    def build():
        g = G()
        return g.create_const_op("op", np.zeros((2, 3), np.int8), "xint8", kind=kind)
    return build


def matmul(ta, tb, a, b, bias=None):
    def build():
        g = G()
        ins = {"input": [data(g, "a", a), data(g, "b", b)]}
        if bias:
            ins["bias"] = [const(g, "bias", bias)]
        return g.create_op("op", "matmul", {"transpose_a": ta, "transpose_b": tb}, ins)
    return build


def inner_product(kind):
    def build():
        g = G()
        return g.create_op("op", kind, {"axis": 1}, {"input": [data(g, "x", (4, 2, 2, 3))],
                                                   "weights": [const(g, "w", (10, 12))],
                                                   "bias": [const(g, "b", (10,))]})
    return build


W = {"kernel": [3, 3]}
CASES = {
    "data": (lambda: data(G(), "op", (1, 4, 4, 3)), [1, 4, 4, 3], "float32"),
    "data-fix": (lambda: G().create_op("op", "data-fix", {"shape": [1, 2], "data_type": "xint8"}), [1, 2], "xint8"),
    "const": (const_op("const"), [2, 3], "xint8"),
    "const-fix": (const_op("const-fix"), [2, 3], "xint8"),
    "fix": (unary("fix", {"fix_point": 3, "bit_width": 4, "if_signed": False}), [2, 5, 7, 3], "xuint4"),
    "float2fix": (unary("float2fix", {"fix_point": -2}), [2, 5, 7, 3], "xint8"),
    "fix2float": (unary("fix2float", dtype="xint8"), [2, 5, 7, 3], "float32"),
    "upload": (unary("upload", dtype="xint8"), [2, 5, 7, 3], "xint8"),
    "download": (unary("download", dtype="xint8"), [2, 5, 7, 3], "xint8"),
    "identity": (unary("identity"), [2, 5, 7, 3], "float32"),
    # FLOOR: (9 + 1 + 1 - 3) // 2 + 1 = 5 ; (11 + 0 + 2 - 3) // 2 + 1 = 6
    "conv2d": (conv_case("conv2d", (16, 3, 3, 8), {"kernel": [3, 3], "stride": [2, 2], "pad": [0, 2, 1, 1]}),
               [2, 5, 6, 16], "float32"),
    # dilation 2: effective 5; CEIL: ceil((9 - 5) / 2) + 1 = 3 ; ceil((11 - 5) / 2) + 1 = 4
    "conv2d-fix": (conv_case("conv2d-fix", (4, 3, 3, 4), {"kernel": [3, 3], "stride": [2, 2], "dilation": [2, 2],
                                                           "pad_mode": "CEIL", "group": 2, "nonlinear": "RELU6"}),
                   [2, 3, 4, 4], "xint8"),
    "depthwise-conv2d": (conv_case("depthwise-conv2d", (2, 3, 3, 8), {"kernel": [3, 3], "pad_mode": "SAME",
                                                                       "stride": [2, 2]}), [2, 5, 6, 16], "float32"),
    "depthwise-conv2d-fix": (conv_case("depthwise-conv2d-fix", (1, 5, 1, 8), {"kernel": [1, 5], "pad_mode": "VALID"}),
                             [2, 5, 11, 8], "xint8"),
    # (9 - 1) * 2 + 3 - 1 - 1 + 1 = 18 ; (11 - 1) * 2 + 3 - 0 - 0 + 0 = 23
    "transposed-conv2d": (conv_case("transposed-conv2d", (5, 3, 3, 8), {"kernel": [3, 3], "stride": [2, 2],
                                                                         "pad": [0, 0, 1, 1], "output_padding": [0, 1]}),
                          [2, 18, 23, 5], "float32"),
    "transposed-conv2d-fix": (conv_case("transposed-conv2d-fix", (5, 2, 2, 8), {"kernel": [2, 2], "stride": [2, 2]}),
                              [2, 18, 22, 5], "xint8"),
    "inner-product": (inner_product("inner-product"), [4, 10], "float32"),
    "inner-product-fix": (inner_product("inner-product-fix"), [4, 10], "xint8"),
    "matmul": (matmul(False, True, (3, 2, 5), (7, 5), (7,)), [3, 2, 7], "float32"),
    "maxpool2d": (unary("maxpool2d", {"kernel": [3, 3], "stride": [2, 2], "pad_mode": "CEIL"}), [2, 2, 3, 3], "float32"),
    "avgpool2d": (unary("avgpool2d", {"kernel": [2, 2], "global": True}), [2, 1, 1, 3], "float32"),
    "pool-fix": (unary("pool-fix", {"kernel": [2, 3], "stride": [2, 1], "type": "AVG", "pad": [1, 0, 0, 0]}),
                 [2, 3, 4, 3], "xint8"),
    "add": (multi("add", [(2, 5, 7, 3), (3,)]), [2, 5, 7, 3], "float32"),
    "sub": (multi("sub", [(2, 1, 7, 1), (1, 5, 1, 3)]), [2, 5, 7, 3], "float32"),
    "mul": (multi("mul", [(2, 5, 7, 3), (2, 1, 1, 3)]), [2, 5, 7, 3], "float32"),
    "div": (multi("div", [(4,), (4,)]), [4], "float32"),
    "max": (multi("max", [(4,), (1,)]), [4], "float32"),
    "min": (multi("min", [(4, 1), (1, 4)]), [4, 4], "float32"),
    "eltwise-fix": (multi("eltwise-fix", [(2, 5, 7, 3)] * 3, {"type": "ADD", "nonlinear": "RELU"}), [2, 5, 7, 3], "xint8"),
    "relu": (unary("relu"), [2, 5, 7, 3], "float32"),
    "relu6": (unary("relu6"), [2, 5, 7, 3], "float32"),
    "leaky-relu": (unary("leaky-relu", {"alpha": 0.1}), [2, 5, 7, 3], "float32"),
    "prelu": (prelu, [1, 4, 4, 6], "float32"),
    "hard-sigmoid": (unary("hard-sigmoid"), [2, 5, 7, 3], "float32"),
    "hard-swish": (unary("hard-swish"), [2, 5, 7, 3], "float32"),
    "sigmoid": (unary("sigmoid"), [2, 5, 7, 3], "float32"),
    "tanh": (unary("tanh"), [2, 5, 7, 3], "float32"),
    "softmax": (unary("softmax", {"axis": 1}), [2, 5, 7, 3], "float32"),
    "hard-sigmoid-fix": (unary("hard-sigmoid-fix", dtype="xint8"), [2, 5, 7, 3], "xint8"),
    "reshape": (unary("reshape", {"shape": [2, -1, 3]}), [2, 35, 3], "float32"),
    "reshape-fix": (unary("reshape-fix", {"shape": [-1]}, dtype="xint8"), [210], "xint8"),
    "flatten": (unary("flatten", {"start_axis": 1, "end_axis": 2}), [2, 35, 3], "float32"),
    "transpose": (unary("transpose", {"order": [0, 3, 1, 2]}), [2, 3, 5, 7], "float32"),
    "concat": (multi("concat", [(2, 5, 7, 3), (2, 5, 7, 4)], {"axis": -1}), [2, 5, 7, 7], "float32"),
    "concat-fix": (multi("concat-fix", [(2, 5, 7, 3), (2, 1, 7, 3)], {"axis": 1}), [2, 6, 7, 3], "xint8"),
    "pad": (unary("pad", {"paddings": [0, 0, 1, 2, 3, 4, 0, 0]}), [2, 8, 14, 3], "float32"),
    "pad-fix": (unary("pad-fix", {"paddings": [0, 0, 1, 1, 1, 1, 0, 0], "mode": "REFLECT"}, dtype="xint8"),
                [2, 7, 9, 3], "xint8"),
    "strided_slice": (unary("strided_slice", {"begin": [0, 1, 0, 0], "end": [2, 5, 7, 3], "strides": [1, 2, 3, 1]}),
                      [2, 2, 3, 3], "float32"),
    "upsample": (unary("upsample", {"scale": [2, 3]}), [2, 15, 14, 3], "float32"),
    "upsample-fix": (unary("upsample-fix", {"scale": [2, 2]}, dtype="xint8"), [2, 10, 14, 3], "xint8"),
    "resize": (unary("resize", {"size": [4, 6], "mode": "BILINEAR"}), [2, 6, 4, 3], "float32"),
    "reduction_mean": (unary("reduction_mean", {"axis": [1, 2], "keep_dims": True}), [2, 1, 1, 3], "float32"),
    "reduction_max": (unary("reduction_max", {"axis": [3]}), [2, 5, 7], "float32"),
}


def test_every_op_type_has_a_shape_case():
    assert sorted(CASES) == op_types()


@pytest.mark.parametrize("kind", sorted(CASES))
def test_shape_inference(kind):
    build, dims, dtype = CASES[kind]
    t = build().get_output_tensor()
    assert (t.dims, t.dtype) == (dims, dtype)


@pytest.mark.parametrize("build, message", [
    (unary("reshape", {"shape": [4, -1]}), "cannot reshape dims \\[2, 5, 7, 3\\] to \\[4, -1\\]"),
    (unary("transpose", {"order": [0, 1, 1, 2]}), "not a permutation"),
    (unary("softmax", {"axis": 4}), "axis 4 is out of range"),
    (unary("pad", {"paddings": [1, 1]}), "paddings"),
    (unary("maxpool2d", {"kernel": [9, 9]}), "does not fit an extent of 5"),
    (multi("concat", [(2, 5, 7, 3), (2, 4, 7, 3)], {"axis": 3}), "differ outside axis 3"),
    (conv_case("conv2d", (16, 3, 3, 4), W), "do not match 8 input channels"),
    (conv_case("depthwise-conv2d", (1, 3, 3, 4), W), "depthwise weights must be"),
    (unary("conv2d", W, dims=(2, 5, 7)), "needs exactly 1 'weights'"),
    (matmul(False, False, (2, 5), (4, 3)), "inner sizes differ"),
])
def test_shape_errors_name_the_op(build, message):
    with pytest.raises(OpDefError, match=message) as e:
        build()
    assert "op 'op' (" in str(e.value)
