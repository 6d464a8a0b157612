"""One DPU region of a partitioned Relax module as a float ONNX model (opset 17), for vaiq's ONNX frontend.

Rule: each Relax op of the DPU pattern set becomes the ONNX node it was imported from (conv2d -> Conv with its
constant bias folded in as input B, conv2d_transpose -> ConvTranspose likewise, a nearest resize2d by integer
factors -> Resize (nearest, asymmetric, floor, scales), matmul with constant [in, out] weights (+ bias) ->
Gemm with transB, add -> Add, relu -> Relu, leakyrelu -> LeakyRelu, clip -> Clip (bounds as initializers),
max/avg_pool2d -> MaxPool/AveragePool, a mean over the plane -> GlobalAveragePool, concat -> Concat, reshape
-> Reshape); constants and reshapes / transposes of constants become initializers; the region's parameters are
the model's inputs (``in0``, ``in1``, ...) and its results the outputs (``out0``, ...), in order; the node
computing output i is named ``out<i>`` (a value the region also consumes is an output all the same: the
compiled graph declares its outputs, see xir/graph.py Graph.get_output_ops; an input or a value returned twice
leaves through a 1x1 MaxPool, an exact copy, named so). Any other op is a bug of the partitioner (the patterns
admit only these) and raises. HardSwish and HardSigmoid, which the importer spells as several ops, are written back as
the one node each (the parts nothing else reads are dropped).
"""
from __future__ import annotations

import numpy as np
import onnx
import tvm
from onnx import TensorProto, helper, numpy_helper

from tvm import relax

from .describe import hard_sigmoid_input, hard_swish_input, upsample_factors
from .relax_util import clip_bounds, const_value, op_name, shape_of


OPSET = 17


class _Writer:
    def __init__(self):
        self.nodes: list = []
        self.inits: list = []
        self.names: dict = {}           # relax Var -> ONNX value name
        self.producer: dict = {}        # ONNX value name -> node
        self.n = 0

    def fresh(self, hint: str) -> str:
        self.n += 1
        return f"{hint}_{self.n}"

    def init(self, value: np.ndarray, hint: str) -> str:
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attrs) -> str:
        out = self.fresh(hint)
        n = helper.make_node(op, inputs, [out], name=out, **attrs)
        self.nodes.append(n)
        self.producer[out] = n
        return out


def _ints(xs) -> list[int]:
    return [int(x) for x in xs]


def _value(w: _Writer, e, var2val) -> str:
    if isinstance(e, relax.Var) and e in w.names:
        return w.names[e]
    c = const_value(e, var2val)
    if c is not None:
        return w.init(c.astype(np.float32), "const")
    raise ValueError(f"a DPU region reads {type(e).__name__} {e}, which is neither a value nor a constant")


def _call(w: _Writer, call, var2val) -> str:
    name = op_name(call)
    a = call.attrs
    if name == "relax.nn.conv2d":
        if a.data_layout != "NCHW" or a.kernel_layout != "OIHW":
            raise ValueError(f"conv2d layout {a.data_layout}/{a.kernel_layout}; the DPU regions take NCHW/OIHW")
        wt = const_value(call.args[1], var2val)
        return w.node("Conv", [_value(w, call.args[0], var2val), w.init(wt, "weight")], "conv",
                      strides=_ints(a.strides), pads=_ints(a.padding), dilations=_ints(a.dilation),
                      group=int(a.groups), kernel_shape=list(wt.shape[2:]))
    if name == "relax.nn.conv2d_transpose":
        if a.data_layout != "NCHW" or a.kernel_layout != "IOHW":
            raise ValueError(f"conv2d_transpose layout {a.data_layout}/{a.kernel_layout}; the DPU regions take "
                             "NCHW/IOHW")
        wt = const_value(call.args[1], var2val)
        return w.node("ConvTranspose", [_value(w, call.args[0], var2val), w.init(wt, "weight")], "tconv",
                      strides=_ints(a.strides), pads=_ints(a.padding), dilations=_ints(a.dilation),
                      group=int(a.groups), output_padding=_ints(a.output_padding), kernel_shape=list(wt.shape[2:]))
    if name == "relax.image.resize2d":
        fh, fw = upsample_factors(call)
        scales = np.array([1, 1, fh, fw], np.float32)
        return w.node("Resize", [_value(w, call.args[0], var2val), "", w.init(scales, "scales")], "upsample",
                      mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    if name == "relax.matmul":
        wt = const_value(call.args[1], var2val)          # [in, out]
        return w.node("Gemm", [_value(w, call.args[0], var2val), w.init(wt.T.copy(), "weight")], "gemm", transB=1)
    if name == "relax.add":
        x, y = call.args
        cx, cy = const_value(x, var2val), const_value(y, var2val)
        if cx is None and cy is not None and cy.ndim >= 1 and cy.size == shape_of(call)[1]:     # a bias
            src = w.names.get(x)
            n = w.producer.get(src)
            if n is not None and n.op_type in ("Conv", "ConvTranspose", "Gemm") and len(n.input) == 2:
                n.input.append(w.init(cy.reshape(-1).astype(np.float32), "bias"))
                return src
        return w.node("Add", [_value(w, x, var2val), _value(w, y, var2val)], "add")
    if name == "relax.nn.relu":
        return w.node("Relu", [_value(w, call.args[0], var2val)], "relu")
    if name == "relax.multiply":
        x = hard_swish_input(call, var2val)
        if x is not None:
            return w.node("HardSwish", [_value(w, x, var2val)], "hswish")
        return w.node("Mul", [_value(w, a, var2val) for a in call.args], "mul")
    if name == "relax.divide":
        return w.node("Div", [_value(w, a, var2val) for a in call.args], "div")
    if name == "relax.clip":
        x = hard_sigmoid_input(call, var2val)
        if x is not None:
            return w.node("HardSigmoid", [_value(w, x, var2val)], "hsigmoid", alpha=1 / 6, beta=0.5)
        lo, hi = clip_bounds(call)
        return w.node("Clip", [_value(w, call.args[0], var2val), w.init(np.array(lo, np.float32), "min"),
                               w.init(np.array(hi, np.float32), "max")], "clip")
    if name == "relax.nn.leakyrelu":
        return w.node("LeakyRelu", [_value(w, call.args[0], var2val)], "leakyrelu", alpha=float(a.alpha))
    if name in ("relax.nn.max_pool2d", "relax.nn.avg_pool2d"):
        kw = dict(kernel_shape=_ints(a.pool_size), strides=_ints(a.strides), pads=_ints(a.padding),
                  ceil_mode=int(bool(a.ceil_mode)))
        if name == "relax.nn.max_pool2d":
            return w.node("MaxPool", [_value(w, call.args[0], var2val)], "maxpool", dilations=_ints(a.dilation), **kw)
        return w.node("AveragePool", [_value(w, call.args[0], var2val)], "avgpool",
                      count_include_pad=int(bool(a.count_include_pad)), **kw)
    if name == "relax.mean":
        return w.node("GlobalAveragePool", [_value(w, call.args[0], var2val)], "gap")
    if name == "relax.concat":
        xs = call.args[0]
        items = xs.fields if isinstance(xs, relax.Tuple) else var2val[xs].fields
        return w.node("Concat", [_value(w, x, var2val) for x in items], "concat", axis=int(a.axis))
    if name == "relax.reshape":
        shape = np.array(shape_of(call), np.int64)
        return w.node("Reshape", [_value(w, call.args[0], var2val), w.init(shape, "shape")], "reshape")
    raise ValueError(f"{name} is not an op of the DPU pattern set")


def _walk(w: _Writer, func, args: list[str], local_funcs: dict) -> str | list[str]:
    for p, a in zip(func.params, args):
        w.names[p] = a
    var2val = relax.analysis.get_var2val(func)
    for b in (b for block in func.body.blocks for b in block.bindings):
        v = b.value
        if isinstance(v, relax.Function):
            local_funcs[b.var] = v
            continue
        if const_value(v, var2val) is not None:
            continue                               # folded where it is read
        if isinstance(v, tvm.ir.Call) and (isinstance(v.op, relax.Function) or v.op in local_funcs):
            inner = v.op if isinstance(v.op, relax.Function) else local_funcs[v.op]
            w.names[b.var] = _walk(w, inner, [_value(w, x, var2val) for x in v.args], local_funcs)
        elif isinstance(v, relax.Tuple):
            continue                               # read by the concat that takes it
        elif isinstance(v, relax.Var):
            w.names[b.var] = w.names[v]
        else:
            w.names[b.var] = _call(w, v, var2val)
    ret = func.body.body
    if isinstance(ret, relax.Tuple):
        return [w.names[x] for x in ret.fields]
    return w.names[ret]


def _drop_unread(w: _Writer, keep: set[str]) -> None:
    """Drop the nodes nothing reads (the parts of a HardSwish / HardSigmoid written as the one node they
    were imported from); ``keep``: the region's results."""
    while True:
        read = {x for n in w.nodes for x in n.input} | keep
        dead = [n for n in w.nodes if n.output[0] not in read]
        if not dead:
            return
        for n in dead:
            w.nodes.remove(n)
            w.producer.pop(n.output[0], None)


def _name_chain(w: _Writer, value: str, name: str, stop: set[str]) -> None:
    """Name the node computing ``value`` ``name`` (its output too), and the nodes feeding only it
    ``name_1``, ``name_2``, ...: the op vaiq and vaic fuse them into (conv + bias + ReLU) keeps one of
    these names, and every one starts with ``name``. The walk stops at a value in ``stop`` (another output)."""
    n = w.producer[value]
    uses = {}
    for m in w.nodes:
        for x in m.input:
            uses[x] = uses.get(x, 0) + 1
    k = 0
    while True:
        old = n.output[0]
        new = name if k == 0 else f"{name}_{k}"
        for m in w.nodes:
            m.input[:] = [new if x == old else x for x in m.input]
        n.output[0] = new
        n.name = new
        src = n.input[0] if n.input else None
        if src is None or src not in w.producer or uses.get(src, 0) != 1 or src in stop:
            return
        n, k = w.producer[src], k + 1


def region_to_onnx(func, name: str) -> tuple[onnx.ModelProto, list[tuple[int, ...]], list[tuple[int, ...]]]:
    """The ONNX model of DPU region ``func``, with its input and output shapes."""
    w = _Writer()
    ins = [f"in{i}" for i in range(len(func.params))]
    res = _walk(w, func, ins, {})
    res = res if isinstance(res, list) else [res]
    _drop_unread(w, set(res))
    ret = func.body.body
    rets = list(ret.fields) if isinstance(ret, relax.Tuple) else [ret]
    out_shapes = [shape_of(r) for r in rets]
    outs = []
    for i, (r, s) in enumerate(zip(res, out_shapes)):
        name = f"out{i}"
        if res.index(r) != i or r not in w.producer:
            # a region input or a value returned twice needs a node of its own: a 1x1 max pool, an exact copy
            if len(s) != 4:
                raise ValueError(f"region output {i} (rank {len(s)}) is a region input or repeats output "
                                 f"{res.index(r)}")
            w.nodes.append(helper.make_node("MaxPool", [r], [name], name=name, kernel_shape=[1, 1]))
        else:
            _name_chain(w, r, name, set(res) | set(outs))
        outs.append(name)
    in_shapes = [shape_of(p) for p in func.params]
    in_shapes = [shape_of(p) for p in func.params]
    graph = helper.make_graph(
        w.nodes, name,
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in zip(ins, in_shapes)],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in zip(outs, out_shapes)],
        initializer=w.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="vai_tvm")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, in_shapes, out_shapes
