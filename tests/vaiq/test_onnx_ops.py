"""vaiq.onnx_frontend.load_onnx computes what onnxruntime computes (float, tight tolerance), op by op and
attribute variant by variant, on graphs built with onnx.helper; across opsets where an op's inputs
and attributes changed form; and every variant vaiq should quantize becomes the module vaiq knows."""
import numpy as np
import onnx
import pytest
import torch
from onnx import helper as h

from vaiq.onnx_frontend import load_onnx
from vaiq.onnx_frontend.fallback import ReferenceOp

from onnx_graphs import feeds_for, model, run_ort

R = np.random.default_rng(0)


def w(*shape):
    return (R.standard_normal(shape) * 0.5).astype(np.float32)


def i64(*v):
    return np.array(v, dtype=np.int64)


def f32(*v):
    return np.array(v, dtype=np.float32)


def check(m, atol=1e-5, reference=False):
    """load_onnx(m) equals onnxruntime; ``reference``: whether some node runs through onnx.reference."""
    feeds = feeds_for(m)
    want = run_ort(m, feeds)
    mod = load_onnx(m)
    assert bool(mod.reference_nodes) == reference, mod.reference_nodes
    with torch.no_grad():
        got = mod(*[torch.from_numpy(feeds[n]) for n in mod.input_names])
    got = [got] if isinstance(got, torch.Tensor) else list(got)
    assert len(got) == len(want)
    for g, r in zip(got, want):
        assert tuple(g.shape) == r.shape
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-5, atol=atol)
    return mod


def one(op, ins, inits=None, shape=(1, 4, 9, 11), opset=17, n_out=1, **attrs):
    outs = [f"y{i}" for i in range(n_out)]
    return model([h.make_node(op, ins, outs, name="node", **attrs)], {"x": shape}, outs, inits, opset)


CONV = [
    dict(pads=[1, 1, 1, 1]),
    dict(strides=[2, 2], auto_pad="SAME_UPPER"),
    dict(strides=[2, 2], auto_pad="SAME_LOWER"),
    dict(auto_pad="VALID", dilations=[2, 1]),
    dict(pads=[0, 1, 2, 1], strides=[2, 1]),
    dict(pads=[2, 2, 2, 2], dilations=[2, 2]),
]


@pytest.mark.parametrize("attrs", CONV, ids=[str(a) for a in CONV])
def test_conv_padding_variants(attrs):
    mod = check(one("Conv", ["x", "w", "b"], {"w": w(6, 4, 3, 3), "b": w(6)}, **attrs))
    assert any(isinstance(m, torch.nn.Conv2d) for m in mod.modules())


def test_conv_depthwise_grouped_no_bias_and_1d():
    mod = check(one("Conv", ["x", "w"], {"w": w(4, 1, 3, 3)}, group=4, pads=[1, 1, 1, 1]))
    assert mod.node.groups == 4
    check(one("Conv", ["x", "w"], {"w": w(8, 2, 1, 1)}, group=2))
    check(one("Conv", ["x", "w", "b"], {"w": w(3, 4, 5), "b": w(3)}, shape=(1, 4, 17), pads=[2, 1]))


CONVT = [
    dict(strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]),
    dict(strides=[2, 2], pads=[0, 1, 1, 0]),
    dict(strides=[2, 2], output_shape=[18, 22]),
    dict(strides=[2, 2], auto_pad="SAME_UPPER"),
    dict(strides=[1, 1], dilations=[2, 2], group=2),
]


@pytest.mark.parametrize("attrs", CONVT, ids=[str(a) for a in CONVT])
def test_conv_transpose_variants(attrs):
    wt = w(4, 3 if attrs.get("group", 1) == 1 else 2, 3, 3)
    mod = check(one("ConvTranspose", ["x", "w", "b"], {"w": wt, "b": w(wt.shape[1] * attrs.get("group", 1))}, **attrs))
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in mod.modules())


GEMM = [
    ({}, (5, 7), (7, 3), (3,)),
    (dict(transB=1), (5, 7), (3, 7), (3,)),
    (dict(transA=1, alpha=0.5, beta=2.0), (7, 5), (7, 3), (1, 3)),
    (dict(beta=0.5), (5, 7), (7, 3), (5, 3)),
    (dict(transB=1), (5, 7), (3, 7), ()),
]


@pytest.mark.parametrize("attrs,xs,bs,cs", GEMM, ids=[str(g[0]) + str(g[3]) for g in GEMM])
def test_gemm_variants(attrs, xs, bs, cs):
    m = model([h.make_node("Gemm", ["x", "b", "c"], ["y"], name="fc", **attrs)], {"x": xs}, ["y"],
              {"b": w(*bs), "c": w(*cs)})
    mod = check(m)
    assert isinstance(mod.fc, torch.nn.Linear) == (cs != (5, 3))


def test_gemm_and_matmul_with_computed_operands():
    check(model([h.make_node("Gemm", ["x", "z"], ["y"], transB=1)], {"x": (4, 6), "z": (3, 6)}, ["y"]))
    check(model([h.make_node("MatMul", ["x", "z"], ["y"])], {"x": (2, 4, 6), "z": (2, 6, 3)}, ["y"]))


def test_matmul_constant_weight_and_bias_fusion():
    mod = check(model([h.make_node("MatMul", ["x", "w"], ["t"], name="mm"), h.make_node("Add", ["t", "b"], ["y"])],
                      {"x": (2, 5, 6)}, ["y"], {"w": w(6, 3), "b": w(3)}))
    assert isinstance(mod.mm, torch.nn.Linear) and mod.mm.bias is not None
    assert mod.vaiq_node_names["scopes"]["mm"] == "y"        # it computes the graph output y


@pytest.mark.parametrize("shape", [(2, 4, 5, 6), (3, 4)])
def test_batchnorm_standalone(shape):
    inits = {"s": w(4), "b": w(4), "m": w(4), "v": np.abs(w(4)) + 0.5}
    mod = check(one("BatchNormalization", ["x", "s", "b", "m", "v"], inits, shape=shape, epsilon=1e-3))
    assert isinstance(mod.node, torch.nn.modules.batchnorm._BatchNorm)


ACTS = [
    ("Relu", [], {}, {}), ("Sigmoid", [], {}, {}), ("Tanh", [], {}, {}), ("HardSwish", [], {}, {}),
    ("LeakyRelu", [], {}, dict(alpha=0.1)), ("HardSigmoid", [], {}, {}),
    ("HardSigmoid", [], {}, dict(alpha=1 / 6, beta=0.5)), ("Softmax", [], {}, dict(axis=1)),
    ("Softmax", [], {}, {}), ("Clip", ["", "hi"], {"hi": f32(6)}, {}),
    ("Clip", ["lo", "hi"], {"lo": f32(0), "hi": f32(6)}, {}), ("Clip", ["lo"], {"lo": f32(0)}, {}),
    ("Clip", ["lo", "hi"], {"lo": f32(-1), "hi": f32(1)}, {}), ("Elu", [], {}, {}),
]


@pytest.mark.parametrize("op,extra,inits,attrs", ACTS, ids=[f"{a[0]}{i}" for i, a in enumerate(ACTS)])
def test_activations(op, extra, inits, attrs):
    check(one(op, ["x"] + extra, inits, **attrs))


def test_activations_become_the_torch_ops_vaiq_quantizes():
    relu6 = load_onnx(one("Clip", ["x", "lo", "hi"], {"lo": f32(0), "hi": f32(6)}))
    hsig = load_onnx(one("HardSigmoid", ["x"], alpha=1 / 6, beta=0.5))
    assert relu6.node.fn is torch.nn.functional.relu6 and hsig.node.fn is torch.nn.functional.hardsigmoid


BINARY = [
    ("Add", ["x", "c"], {"c": w(4, 1, 1)}), ("Sub", ["c", "x"], {"c": f32(1.5)}), ("Mul", ["x", "c"], {"c": f32(0.5)}),
    ("Div", ["x", "c"], {"c": f32(3)}), ("Add", ["x", "x"], {}), ("Mul", ["c", "x"], {"c": w(11)}),
    ("Sub", ["x", "c"], {"c": w(1, 1, 1, 1, 1)}),
]


@pytest.mark.parametrize("op,ins,inits", BINARY, ids=[f"{b[0]}{i}" for i, b in enumerate(BINARY)])
def test_binary_with_broadcast_and_constants(op, ins, inits):
    check(one(op, ins, inits))


def test_concat_with_a_constant_and_two_outputs():
    m = model([h.make_node("Concat", ["x", "c", "x"], ["y"], axis=1), h.make_node("Relu", ["y"], ["z"])],
              {"x": (1, 2, 3, 3)}, ["y", "z"], {"c": w(1, 1, 3, 3)})
    check(m)


POOLS = [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1])),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")),
    ("MaxPool", dict(kernel_shape=[2, 2], dilations=[2, 2])),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    ("AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1])),
    ("AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2], pads=[1, 0, 0, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], auto_pad="SAME_LOWER")),
]


@pytest.mark.parametrize("op,attrs", POOLS, ids=[f"{p[0]}{i}" for i, p in enumerate(POOLS)])
def test_pools(op, attrs):
    check(one(op, ["x"], **attrs))


def test_global_pools_and_flatten_axes():
    check(one("GlobalAveragePool", ["x"]))
    check(one("GlobalMaxPool", ["x"]))
    for axis in (0, 1, 2, -1):
        check(one("Flatten", ["x"], axis=axis))


RESHAPES = [i64(0, -1), i64(1, 4, 99), i64(-1, 11), i64(0, 0, 11, 9)]


@pytest.mark.parametrize("shape", RESHAPES, ids=[str(s.tolist()) for s in RESHAPES])
def test_reshape(shape):
    check(one("Reshape", ["x", "s"], {"s": shape}))


def test_transpose_squeeze_unsqueeze():
    check(one("Transpose", ["x"], perm=[0, 2, 3, 1]))
    check(one("Transpose", ["x"]))
    check(one("Unsqueeze", ["x", "a"], {"a": i64(0, -1)}))
    check(one("Squeeze", ["x", "a"], {"a": i64(0)}))


PADS = [
    ("constant", i64(0, 0, 1, 2, 0, 0, 3, 0), None),
    ("constant", i64(0, 0, 1, 1, 0, 0, 1, 1), f32(0.5)),
    ("reflect", i64(0, 0, 2, 1, 0, 0, 1, 2), None),
    ("edge", i64(0, 0, 1, 0, 0, 0, 0, 3), None),
    ("constant", i64(0, 0, -1, 1, 0, 0, 2, -2), None),
]


@pytest.mark.parametrize("mode,pads,value", PADS, ids=[f"{p[0]}{i}" for i, p in enumerate(PADS)])
@pytest.mark.parametrize("opset", [13, 18])
def test_pad(mode, pads, value, opset):
    inits = {"p": pads} | ({"v": value} if value is not None else {})
    check(one("Pad", ["x", "p"] + (["v"] if value is not None else []), inits, opset=opset, mode=mode))


def test_pad_axes_input_of_opset_18():
    check(one("Pad", ["x", "p", "", "a"], {"p": i64(1, 2, 3, 0), "a": i64(2, -1)}, opset=18))


RESIZE = [
    ("nearest", "asymmetric", "floor", f32(1, 1, 2, 2), None),
    ("nearest", "half_pixel", "round_prefer_floor", f32(1, 1, 3, 2), None),
    ("nearest", "asymmetric", "round_prefer_ceil", f32(1, 1, 2, 2), None),
    ("nearest", "align_corners", "round_prefer_floor", None, i64(1, 4, 20, 15)),
    ("nearest", "half_pixel", "floor", None, i64(1, 4, 5, 7)),
    ("nearest", "tf_half_pixel_for_nn", "round_prefer_floor", f32(1, 1, 2, 2), None),
    ("linear", "half_pixel", "", f32(1, 1, 2, 2), None),
    ("linear", "align_corners", "", None, i64(1, 4, 17, 13)),
    ("linear", "pytorch_half_pixel", "", None, i64(1, 4, 14, 20)),
    ("linear", "asymmetric", "", f32(1, 1, 2, 2), None),
    ("cubic", "half_pixel", "", f32(1, 1, 2, 2), None),
]


@pytest.mark.parametrize("mode,coord,nearest,scales,sizes", RESIZE, ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in RESIZE])
@pytest.mark.parametrize("opset", [13, 19])
def test_resize(mode, coord, nearest, scales, sizes, opset):
    attrs = dict(mode=mode, coordinate_transformation_mode=coord) | ({"nearest_mode": nearest} if nearest else {})
    ins = ["x", "", "s"] if scales is not None else ["x", "", "", "z"]
    inits = {"s": scales} if scales is not None else {"z": sizes}
    mod = check(one("Resize", ins, inits, opset=opset, **attrs), atol=2e-5,
                reference=(mode, coord) == ("linear", "asymmetric"))
    if mode == "nearest" and coord == "asymmetric" and nearest == "floor":
        assert mod.node.fn is torch.nn.functional.interpolate     # the upsample vaiq quantizes


def test_upsample_of_old_opsets_after_convert_version():
    m = model([h.make_node("Upsample", ["x", "s"], ["y"], mode="nearest")], {"x": (1, 2, 3, 4)}, ["y"],
              {"s": f32(1, 1, 2, 3)}, opset=9)
    from vaiq.errors import OnnxModelError
    with pytest.raises(OnnxModelError, match="convert_version"):
        load_onnx(m)
    check(onnx.version_converter.convert_version(m, 13))


SLICES = [
    (i64(1), i64(8), i64(2), None),
    (i64(-3, 0), i64(100, 5), i64(3, 1), i64(2, 1)),
    (i64(8), i64(1), i64(2), i64(-2)),
    (i64(-1), i64(-1000), i64(3), i64(-3)),
    (i64(0, 2), i64(1, -1), i64(0, 2), None),
]


@pytest.mark.parametrize("starts,ends,axes,steps", SLICES, ids=[str(i) for i in range(len(SLICES))])
def test_slice(starts, ends, axes, steps):
    ins = ["x", "s", "e", "a"] + (["t"] if steps is not None else [])
    inits = {"s": starts, "e": ends, "a": axes} | ({"t": steps} if steps is not None else {})
    check(one("Slice", ins, inits))


def test_identity_dropout_constant_and_reductions():
    m = model([h.make_node("Identity", ["x"], ["a"]), h.make_node("Dropout", ["a"], ["b"]),
               h.make_node("Constant", [], ["c"], value=h.make_tensor("v", onnx.TensorProto.FLOAT, [1], [2.0])),
               h.make_node("Mul", ["b", "c"], ["y"])], {"x": (2, 3, 4)}, ["y"])
    check(m)
    check(one("ReduceMean", ["x"], axes=[2, 3], keepdims=1, opset=13))
    check(one("ReduceMean", ["x", "a"], {"a": i64(1)}, keepdims=0, opset=18))
    check(one("ReduceMax", ["x"], axes=[-1], opset=17))


def test_shape_subgraph_is_folded_into_a_static_reshape():
    nodes = [h.make_node("Shape", ["x"], ["s"]), h.make_node("Gather", ["s", "i0"], ["n"], axis=0),
             h.make_node("Unsqueeze", ["n", "ax"], ["n1"]), h.make_node("Concat", ["n1", "m1"], ["shape"], axis=0),
             h.make_node("Reshape", ["x", "shape"], ["y"])]
    m = model(nodes, {"x": (3, 4, 5, 6)}, ["y"], {"i0": np.array(0, dtype=np.int64), "ax": i64(0), "m1": i64(-1)})
    mod = check(m)
    assert len(mod._steps) == 1 and type(getattr(mod, mod._steps[0][0])).__name__ == "Reshape"


def test_an_op_without_a_torch_form_runs_through_onnx_reference():
    m = model([h.make_node("Cos", ["x"], ["c"], name="cos"), h.make_node("Relu", ["c"], ["y"])],
              {"x": (1, 2, 3, 3)}, ["y"])
    mod = check(m, reference=True)
    assert isinstance(mod.cos, ReferenceOp) and mod.reference_nodes == ["cos"]


@pytest.mark.parametrize("opset", [13, 15, 18, onnx.defs.onnx_opset_version()])
def test_opsets_from_13_to_the_newest(opset):
    nodes = [h.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             h.make_node("Clip", ["c", "lo", "hi"], ["r"]),
             h.make_node("Pad", ["r", "p"], ["q"]),
             h.make_node("ReduceSum", ["q", "a"], ["y"], keepdims=1)]
    inits = {"w": w(3, 4, 3, 3), "lo": f32(0), "hi": f32(6), "p": i64(0, 0, 1, 1, 0, 0, 1, 1), "a": i64(1)}
    check(model(nodes, {"x": (1, 4, 6, 7)}, ["y"], inits, opset=opset))


def test_split_gather_cast():
    check(one("Split", ["x", "s"], {"s": i64(1, 3)}, n_out=2, axis=1))
    check(one("Split", ["x"], n_out=3, axis=2, opset=13))
    check(one("Split", ["x"], n_out=3, axis=-1, opset=18, num_outputs=3))
    for idx in (np.array(2, dtype=np.int64), i64(1, 2), i64(3, 0, -1), np.array(-1, dtype=np.int64)):
        mod = check(one("Gather", ["x", "i"], {"i": idx}, axis=1))
        assert not isinstance(mod.node, ReferenceOp)
    check(one("Cast", ["x"], to=onnx.TensorProto.FLOAT))
    m = model([h.make_node("Cast", ["x"], ["c"], to=onnx.TensorProto.INT64),
               h.make_node("Cast", ["c"], ["y"], to=onnx.TensorProto.FLOAT)], {"x": (2, 5)}, ["y"])
    check(m)


def test_split_channels_quantize_to_slices(tmp_path):
    from vaiq import torch_quantizer
    m = model([h.make_node("Split", ["x", "s"], ["a", "b"], axis=1), h.make_node("Relu", ["b"], ["r"]),
               h.make_node("Concat", ["r", "a"], ["y"], axis=1)], {"x": (1, 4, 6, 6)}, ["y"], {"s": i64(2, 2)})
    mod = load_onnx(m)
    q = torch_quantizer("float", mod, mod.example_inputs())
    assert [n.kind for n in q.graph.nodes] == ["input", "strided_slice", "strided_slice", "relu", "concat"]
