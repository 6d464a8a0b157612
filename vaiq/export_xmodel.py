"""Export the deploy graph ``<Net>_int.xmodel``: float ops + ``fix`` ops, NHWC (docs/xmodel.md).

Rules:
- 4-D activations are stored NHWC; a torch op that works on NCHW order (flatten, reshape, permute,
  matmul) gets a ``transpose`` to NCHW in front, and an image op (a slice too) reading such a tensor
  gets one back;
  axes of concat, slice, softmax and mean are mapped to NHWC;
- weights become ``const`` ops holding their quantized values (``[out, kh, kw, in/group]``; depthwise
  ``[multiplier, kh, kw, in]``) followed by a ``fix`` (STD_ROUND); biases likewise;
- a quantized node is its op (plus its fused activation op) followed by ``<node>_fix``; max-pool, pad
  and upsample get a fix with their input's position; layout ops get none (they keep their input's);
- float (CPU) ops stay float; a fix follows them when a quantized op reads them;
- the graph declares its outputs (``output_ops``: the op carrying each output's value, see
  :meth:`xir.Graph.get_output_ops`), so an output other ops also read stays an output.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

import xir
from xir.ops.conv import conv_kind
from xir.ops.layout import NCHW_TO_NHWC_AXIS
from xir.xmodel import write_atomic

from .calib import fake_quant
from .errors import VaiqError
from .ir import OWN_FIX, SHARED_FIX, xir_resize
from .prepare import has_fix

TO_NHWC, TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]
ACT_OPS = {"relu": "relu", "relu6": "relu6", "leaky-relu": "leaky-relu", "hard-sigmoid": "hard-sigmoid",
           "hard-swish": "hard-swish"}


class _Builder:
    def __init__(self, q):
        self.q = q
        self.g = q.graph
        self.t = q.table
        self.x = xir.Graph(self.g.name)
        self.val: dict[str, xir.Op] = {}
        self.nhwc: dict[str, bool] = {}
        self._converted: dict[tuple, xir.Op] = {}

    # -- helpers ------------------------------------------------------------------------------
    def op(self, name, kind, attrs=None, inputs=None):
        return self.x.create_op(name, kind, attrs or {}, inputs or {})

    def mark(self, n, op: xir.Op) -> xir.Op:
        """A node the quantizer keeps float although the DPU could run it carries ``keep_float``."""
        if n.quant == "float" and (n.kind in OWN_FIX or n.kind in SHARED_FIX) and "scalar" not in n.attrs:
            op.set_attr("keep_float", True)
            op.set_attr("float_reason", n.reason or "kept float by the quantizer")
        return op

    def fix(self, src: xir.Op, name: str, fp: int, bw: int, mode: str) -> xir.Op:
        return self.op(name, "fix", {"fix_point": int(fp), "bit_width": int(bw), "round_mode": mode,
                                     "if_signed": True}, {"input": [src]})

    def get(self, name: str, want_nhwc: bool | None) -> xir.Op:
        """The value of node ``name``, transposed to the layout an op wants (None: as it is)."""
        op = self.val[name]
        is4 = len(op.get_output_tensor().dims) == 4
        if want_nhwc is None or not is4 or self.nhwc[name] == want_nhwc:
            return op
        key = (name, want_nhwc)
        if key not in self._converted:
            order = TO_NHWC if want_nhwc else TO_NCHW
            self._converted[key] = self.op(f"{op.name}_to_{'nhwc' if want_nhwc else 'nchw'}", "transpose",
                                           {"order": order}, {"input": [op]})
        return self._converted[key]

    def const_fix(self, name: str, value: torch.Tensor, key: str) -> xir.Op:
        fp, bw = self.t.param_pos[key], self.t.param_bits[key]
        q = fake_quant(value.double(), fp, bw, "STD_ROUND").float().numpy()
        c = self.x.create_const_op(name, np.ascontiguousarray(q))
        return self.fix(c, f"{name}_fix", fp, bw, "STD_ROUND")

    def out_fix(self, n, op: xir.Op) -> xir.Op:
        if not has_fix(n):
            return op
        return self.fix(op, f"{n.name}_fix", self.t.get(n.name), self.t.bw(n.name), self.q.config.round_for(n))

    def act(self, n, op: xir.Op) -> xir.Op:
        if not n.act:
            return op
        attrs = {"alpha": float(n.act_attrs["alpha"])} if n.act == "leaky-relu" else {}
        return self.op(f"{n.name}_{n.act}", ACT_OPS[n.act], attrs, {"input": [op]})

    # -- nodes ---------------------------------------------------------------------------------
    def build(self):
        for n in self.g.nodes:
            fn = getattr(self, "n_" + n.kind.replace("-", "_"), None)
            if fn is None:
                why = f" ({n.reason})" if n.reason and "equivalent" not in n.reason else ""
                raise VaiqError(f"node '{n.name}' ({n.source or n.kind}) has no XIR equivalent{why}, so the "
                                "deploy model cannot hold it; exclude it with layer_quantize_config or change the model")
            fn(n)
        return self.x

    def set(self, n, op: xir.Op, nhwc: bool) -> None:
        self.val[n.name] = op
        self.nhwc[n.name] = nhwc and len(op.get_output_tensor().dims) == 4

    def n_input(self, n):
        shape = list(n.shape)
        is4 = len(shape) == 4
        if is4:
            shape = [shape[i] for i in TO_NHWC]
        d = self.op(n.name, "data", {"shape": shape, "data_type": "float32"})
        self.set(n, self.out_fix(n, d), True)

    def _conv_attrs(self, a, kh, kw):
        ph, pw = a["padding"]
        return {"kernel": [kw, kh], "stride": [a["stride"][1], a["stride"][0]],
                "dilation": [a["dilation"][1], a["dilation"][0]], "pad": [pw, pw, ph, ph], "pad_mode": "FLOOR"}

    def param(self, n, name: str, value: torch.Tensor, key: str) -> xir.Op:
        """A layer's weights or bias: quantized const + fix, or a float const for a float layer."""
        if n.quant == "float":
            return self.x.create_const_op(name, np.ascontiguousarray(value.detach().float().numpy()))
        return self.const_fix(name, value, key)

    def n_conv2d(self, n):
        p = self.q.quant_model.params_of(n.name)
        w = p["weight"]
        cout, cin_g, kh, kw = w.shape
        x = self.get(n.inputs[0], True)
        cin = x.get_output_tensor().dims[3]
        groups = n.attrs["groups"]
        attrs = self._conv_attrs(n.attrs, kh, kw)
        kind = conv_kind(cin, groups, cin_g)
        if kind == "depthwise-conv2d":
            wx = w.reshape(cin, cout // cin, kh, kw).permute(1, 2, 3, 0)
        else:
            attrs["group"] = groups
            wx = w.permute(0, 2, 3, 1)
        ins = {"input": [x], "weights": [self.param(n, f"{n.name}_weights", wx, f"{n.name}.weight")]}
        if "bias" in p:
            ins["bias"] = [self.param(n, f"{n.name}_bias", p["bias"], f"{n.name}.bias")]
        op = self.mark(n, self.op(n.name, kind, attrs, ins))
        self.set(n, self.out_fix(n, self.act(n, op)), True)

    def n_transposed_conv2d(self, n):
        p = self.q.quant_model.params_of(n.name)
        w = p["weight"]
        cin, cout_g, kh, kw = w.shape
        g = n.attrs["groups"]
        wx = w.reshape(g, cin // g, cout_g, kh, kw).permute(0, 2, 3, 4, 1).reshape(g * cout_g, kh, kw, cin // g)
        attrs = self._conv_attrs(n.attrs, kh, kw)
        attrs.update(group=g, output_padding=[n.attrs["output_padding"][1], n.attrs["output_padding"][0]])
        ins = {"input": [self.get(n.inputs[0], True)],
               "weights": [self.const_fix(f"{n.name}_weights", wx, f"{n.name}.weight")]}
        if "bias" in p:
            ins["bias"] = [self.const_fix(f"{n.name}_bias", p["bias"], f"{n.name}.bias")]
        self.set(n, self.out_fix(n, self.act(n, self.op(n.name, "transposed-conv2d", attrs, ins))), True)

    def n_inner_product(self, n):
        p = self.q.quant_model.params_of(n.name)
        x = self.get(n.inputs[0], False)
        if len(x.get_output_tensor().dims) != 2:
            raise VaiqError(f"node '{n.name}': a linear layer on a {len(x.get_output_tensor().dims)}-D "
                            "tensor cannot be exported; flatten its input to 2-D first")
        ins = {"input": [x], "weights": [self.param(n, f"{n.name}_weights", p["weight"], f"{n.name}.weight")]}
        if "bias" in p:
            ins["bias"] = [self.param(n, f"{n.name}_bias", p["bias"], f"{n.name}.bias")]
        op = self.mark(n, self.op(n.name, "inner-product", {"axis": 1}, ins))
        self.set(n, self.out_fix(n, self.act(n, op)), False)

    def _binary(self, n, kind):
        layouts = [self.nhwc.get(i, False) for i in n.inputs]
        want = True if any(layouts) else None
        ins = [self.get(i, want) for i in n.inputs]
        if "scalar" in n.attrs:        # a tensor and a constant: a float32 const of one element broadcasts
            c = self.x.create_const_op(f"{n.name}_scalar", np.array([n.attrs["scalar"]], dtype=np.float32))
            ins = [c] + ins if n.attrs.get("reverse") else ins + [c]
        op = self.mark(n, self.op(n.name, kind, {}, {"input": ins}))
        self.set(n, self.out_fix(n, self.act(n, op)), want is True)

    def n_add(self, n):
        self._binary(n, "add")

    def n_mul(self, n):
        self._binary(n, "mul")

    def n_sub(self, n):
        self._binary(n, "sub")

    def n_div(self, n):
        self._binary(n, "div")

    def n_concat(self, n):
        layouts = [self.nhwc.get(i, False) for i in n.inputs]
        nhwc = any(layouts)
        ins = [self.get(i, True if nhwc else None) for i in n.inputs]
        rank = len(ins[0].get_output_tensor().dims)
        axis = n.attrs["dim"] % rank
        if nhwc:
            axis = NCHW_TO_NHWC_AXIS[axis]
        self.set(n, self.out_fix(n, self.mark(n, self.op(n.name, "concat", {"axis": axis}, {"input": ins}))), nhwc)

    def _pool(self, n, kind):
        a = n.attrs
        kh, kw = a["kernel"]
        ph, pw = a["padding"]
        attrs = {"kernel": [kw, kh], "stride": [a["stride"][1], a["stride"][0]], "pad": [pw, pw, ph, ph],
                 "pad_mode": "CEIL" if a["ceil_mode"] else "FLOOR"}
        if kind == "avgpool2d":
            attrs["count_include_pad"] = bool(a["count_include_pad"])
        op = self.mark(n, self.op(n.name, kind, attrs, {"input": [self.get(n.inputs[0], True)]}))
        op = self.out_fix(n, op)
        if a.get("squeeze"):
            d = op.get_output_tensor().dims
            op = self.op(f"{n.name}_squeeze", "reshape", {"shape": [d[0], d[3]]}, {"input": [op]})
            self.set(n, op, False)
            return
        self.set(n, op, True)

    def n_maxpool2d(self, n):
        self._pool(n, "maxpool2d")

    def n_avgpool2d(self, n):
        self._pool(n, "avgpool2d")

    def _unary(self, n, kind, attrs=None):
        src = self.nhwc.get(n.inputs[0], False)
        op = self.mark(n, self.op(n.name, kind, attrs or {}, {"input": [self.get(n.inputs[0], None)]}))
        self.set(n, self.out_fix(n, op), src)

    def n_relu(self, n):
        self._unary(n, "relu")

    def n_relu6(self, n):
        self._unary(n, "relu6")

    def n_leaky_relu(self, n):
        self._unary(n, "leaky-relu", {"alpha": float(n.attrs["alpha"])})

    def n_hard_sigmoid(self, n):
        self._unary(n, "hard-sigmoid")

    def n_hard_swish(self, n):
        self._unary(n, "hard-swish")

    def n_sigmoid(self, n):
        self._unary(n, "sigmoid")

    def n_tanh(self, n):
        self._unary(n, "tanh")

    def n_softmax(self, n):
        src = self.nhwc.get(n.inputs[0], False)
        x = self.get(n.inputs[0], None)
        rank = len(x.get_output_tensor().dims)
        axis = n.attrs["dim"] % rank
        if src:
            axis = NCHW_TO_NHWC_AXIS[axis]
        self.set(n, self.out_fix(n, self.op(n.name, "softmax", {"axis": axis}, {"input": [x]})), src)

    def n_flatten(self, n):
        x = self.val[n.inputs[0]]
        d = x.get_output_tensor().dims
        s, e = n.attrs["start_dim"] % len(d), n.attrs["end_dim"] % len(d)
        if self.nhwc[n.inputs[0]] and not (s == 1 and e == 3 and d[1] * d[2] == 1):
            x = self.get(n.inputs[0], False)
        self.set(n, self.op(n.name, "flatten", {"start_axis": s, "end_axis": e}, {"input": [x]}), False)

    def n_reshape(self, n):
        x = self.get(n.inputs[0], False)
        shape = list(n.shape)
        self.set(n, self.op(n.name, "reshape", {"shape": shape}, {"input": [x]}), False)

    def n_transpose(self, n):
        x = self.get(n.inputs[0], False)
        self.set(n, self.op(n.name, "transpose", {"order": list(n.attrs["dims"])}, {"input": [x]}), False)

    def n_strided_slice(self, n):
        """A slice of an image reads its NHWC form (a channel split is a slice along axis 3)."""
        x = self.get(n.inputs[0], True)
        dims = x.get_output_tensor().dims
        nhwc = len(dims) == 4
        axis = NCHW_TO_NHWC_AXIS[n.attrs["dim"]] if nhwc else n.attrs["dim"]
        begin, end, strides = [0] * len(dims), list(dims), [1] * len(dims)
        begin[axis], end[axis], strides[axis] = n.attrs["start"], n.attrs["end"], n.attrs["step"]
        self.set(n, self.op(n.name, "strided_slice", {"begin": begin, "end": end, "strides": strides},
                            {"input": [x]}), nhwc)

    def n_pad(self, n):
        left, right, top, bottom = n.attrs["pad"]
        x = self.get(n.inputs[0], True)
        mode = n.attrs.get("mode", "constant").upper()
        attrs = {"paddings": [0, 0, top, bottom, left, right, 0, 0], "mode": mode}
        if mode == "CONSTANT":
            attrs["constant_values"] = [float(n.attrs["value"])]
        op = self.op(n.name, "pad", attrs, {"input": [x]})
        self.set(n, self.out_fix(n, op), True)

    def n_upsample(self, n):
        sh, sw = n.attrs["scale"]
        op = self.op(n.name, "upsample", {"scale": [sw, sh], "mode": "NEAREST"},
                     {"input": [self.get(n.inputs[0], True)]})
        self.set(n, self.out_fix(n, op), True)

    def n_resize(self, n):
        h, w = n.attrs["size"]
        op = self.op(n.name, "resize", {"size": [w, h], **xir_resize(n.attrs)}, {"input": [self.get(n.inputs[0], True)]})
        self.set(n, self.out_fix(n, op), True)

    def _reduction(self, n, kind):
        """A reduction over torch dims; on an NHWC tensor the axes are mapped, unless dropping them
        would leave C before H or W (then it reads the NCHW form, so the result has torch's order)."""
        dims, keep = list(n.attrs["dims"]), bool(n.attrs["keepdim"])
        kept = [d for d in (1, 2, 3) if d not in dims]
        src = self.nhwc.get(n.inputs[0], False) and (keep or not (1 in kept and len(kept) > 1))
        x = self.get(n.inputs[0], True if src else False)
        axes = [NCHW_TO_NHWC_AXIS[d] if src else d for d in dims]
        op = self.op(n.name, kind, {"axis": axes, "keep_dims": keep}, {"input": [x]})
        self.set(n, self.out_fix(n, op), src and keep)

    def n_reduction_mean(self, n):
        self._reduction(n, "reduction_mean")

    def n_reduction_max(self, n):
        self._reduction(n, "reduction_max")

    def n_matmul(self, n):
        ins = [self.get(i, False) for i in n.inputs]
        self.set(n, self.out_fix(n, self.op(n.name, "matmul", {}, {"input": ins})), False)


def build_deploy_graph(q, values: dict | None = None) -> xir.Graph:
    """The deploy graph of a quantizer in test mode. With ``values`` (a dict), fill it with, for every
    node of the quantizer's graph, ``(name of the op carrying its value, whether that value is NHWC)``."""
    b = _Builder(q)
    g = b.build()
    g.declare_outputs([b.val[o].get_name() for o in q.graph.outputs])
    if values is not None:
        values.update({name: (op.get_name(), b.nhwc[name]) for name, op in b.val.items()})
    g.set_attr("origin", "vaiq")
    g.set_attr("quant_info_md5", q.graph.md5())
    g.validate()
    return g


def exportable(n) -> bool:
    """Whether the deploy graph can hold node ``n`` (an XIR op exists for its kind)."""
    return hasattr(_Builder, "n_" + n.kind.replace("-", "_"))


def export_deploy_graph(q, out_dir: Path, deploy_check: bool = False) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    g = build_deploy_graph(q)
    path = out_dir / f"{q.graph.name}_int.xmodel"
    g.serialize(path)
    if deploy_check:
        _dump_layers(q, g, out_dir / "deploy_check_data_int")
    return path


def _dump_layers(q, g: xir.Graph, folder: Path) -> None:
    """Per-layer int8 data of the last test-mode forward (batch element 0), computed by the xir
    reference execution of the folded deploy graph: ``<op>.bin`` (raw integers) + ``manifest.json``."""
    from xir.interp import run_graph
    from xir.transforms import fold_fix_ops

    last = getattr(q.quant_model, "last_inputs", None)
    if last is None:
        raise VaiqError("export_xmodel(deploy_check=True) needs one forward pass in test mode first")
    folded = fold_fix_ops(g)
    feeds = {}
    for name, x in zip(q.graph.inputs, last):
        a = x[:1].detach().float().numpy()
        feeds[name] = np.transpose(a, TO_NHWC) if a.ndim == 4 else a
    vals = run_graph(folded, feeds, keep_all=True)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, v in vals.items():
        t = folded.get_op(name).get_output_tensor()
        safe = name.replace("/", "_")
        v = np.ascontiguousarray(v)
        (folder / f"{safe}.bin").write_bytes(v.tobytes())
        manifest[name] = {"file": f"{safe}.bin", "dims": list(v.shape), "dtype": str(v.dtype),
                          "fix_point": t.get_attr("fix_point") if t.has_attr("fix_point") else None}
    write_atomic(folder / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
