"""Export the quantized model as ``<Net>_int.onnx`` (QDQ format, NCHW, torch semantics).

Rules:
- the graph is built from ``q.graph`` with ``onnx.helper`` (no torch.onnx): one ONNX op, or a short
  fixed chain, per quantizer node; graph inputs and outputs carry the names of the quantizer graph's
  input and output nodes; ``dynamic_batch`` makes dimension 0 the symbol ``batch``;
- every tensor with a fix position goes through QuantizeLinear -> DequantizeLinear with
  scale 2^-fix_pos and zero point 0 (shared-position tensors such as a max-pool output repeat their
  input's pair, which changes nothing); the integer carrier is int8 up to 8 bits and int16 for 9..16
  bits (opset >= 21), and a bit width narrower than its carrier adds a Clip to
  [-2^(bw-1), 2^(bw-1)-1] * scale after the DequantizeLinear;
- rounding: QuantizeLinear rounds half to even, the DPU half up. With ``exact_rounding`` (default) a
  value that rounds at a fix point first passes Mul(2^fp) -> Add(1/2) -> Floor -> Mul(2^-fp), so it
  reaches QuantizeLinear on the grid and QuantizeLinear only saturates, and a dense layer is a 1x1
  Conv over its rows: then no DequantizeLinear -> op -> QuantizeLinear group is left for
  onnxruntime's default QDQ fusion to turn into an integer kernel (its QGemm / MatMulIntegerToFloat,
  which a plain DequantizeLinear -> Gemm / MatMul becomes even without a QuantizeLinear after it,
  sum u8 x s8 pairs in int16 on x86 CPUs without VNNI and saturate), every op runs in float32, and
  onnxruntime reproduces ``quant_model`` with default session options and with optimizations off
  alike, whenever float32 holds the exact values (sums below 2^24 units). Without it the graph is
  plain QDQ with Gemm, which int8 back ends fuse: ties land one step lower, a one-step difference
  grows as it propagates, and fused integer kernels may add their own errors;
- weights are int8 (int16 above 8 bits) initializers followed by DequantizeLinear; biases are int32
  initializers at the accumulator scale 2^-(input fix + weight fix), the QDQ convention, or at their
  own fix position when that grid is finer;
- the DPU approximations are plain ops: LeakyRelu(alpha=26/256); hard-sigmoid Add(3) -> Clip(0, 6)
  -> Mul(2731/2^14); hard-swish x * gate with the gate through a Q/DQ pair at fix 7; avg-pool
  AveragePool (count_include_pad, the ceil-mode tail as explicit end padding) times
  kh*kw*factor/2^shift (with exact rounding, the window sum is recovered exactly with
  Mul(kh*kw*2^fp_in) -> Round before the factor is applied); float (CPU) nodes use the float formulas;
- ``torch`` nodes (replayed aten calls) have no ONNX form: VaiqError naming the node.
With plain QDQ, the session option ``session.disable_quant_qdq = 1`` keeps onnxruntime from fusing.
The file is written atomically (temporary file, then rename).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from xir import fixpoint
from xir.xmodel import write_atomic

from .errors import VaiqError
from .prepare import has_fix

DEFAULT_OPSET = 17          # widely supported (onnxruntime >= 1.11, TensorRT >= 8.6)
INT16_OPSET = 21            # first opset whose QuantizeLinear/DequantizeLinear take int16
MIN_OPSET = 13              # Softmax on one axis, Resize with sizes, Pad/Clip/Slice with inputs
BATCH_DIM = "batch"
LEAKY_ALPHA = fixpoint.LEAKY_RELU_NUM / 2.0 ** fixpoint.LEAKY_RELU_SHIFT
HSIG_SCALE = fixpoint.HSIGMOID_NUM / 2.0 ** fixpoint.HSIGMOID_SHIFT
CARRIERS = {8: np.int8, 16: np.int16}


def _carrier_bits(bw: int, what: str) -> int:
    if 2 <= bw <= 8:
        return 8
    if 8 < bw <= 16:
        return 16
    raise VaiqError(f"{what} has bit width {bw}; the ONNX export supports 2 to 16 bits")


def _fp_tag(fp: int) -> str:
    return f"m{-fp}" if fp < 0 else str(fp)


class _Builder:
    """Accumulates ONNX nodes and initializers while walking the quantizer graph in order."""

    def __init__(self, q, opset: int, exact: bool):
        self.q, self.g, self.t = q, q.graph, q.table
        self.opset, self.exact = opset, exact
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._init_names: set[str] = set()
        self.val: dict[str, str] = {}            # quantizer node -> ONNX tensor holding its value
        self.producer: dict[str, onnx.NodeProto] = {}
        self.rank: dict[str, int] = {n.name: len(n.shape) for n in self.g.nodes}
        self.shape = {n.name: tuple(n.shape) for n in self.g.nodes}
        self.batch = next(iter(self.g.input_shapes.values()))[0] if self.g.input_shapes else 1
        self.qparams = q.quant_model.quantized_params()

    # -- primitives ----------------------------------------------------------------------------
    def init(self, name: str, array: np.ndarray) -> str:
        if name not in self._init_names:
            self._init_names.add(name)
            self.inits.append(numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def scalar(self, value: float) -> str:
        """A float32 scalar initializer (the exporter's own constants are all exact in float32)."""
        v = np.float32(value)
        return self.init(f"const/{float(v)!r}", np.array(v, dtype=np.float32))

    def ints(self, values) -> str:
        vals = [int(v) for v in values]
        return self.init("ints/" + "_".join(str(v) for v in vals), np.array(vals, dtype=np.int64))

    def op(self, op_type: str, inputs: list[str], out: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        self.producer[out] = self.nodes[-1]
        return out

    def reshape_grid(self, x: str, shape: list[int], out: str) -> str:
        """``x`` reshaped; a DequantizeLinear output is reshaped as its integers (Q -> Reshape -> DQ), so
        onnxruntime's QDQ propagation has no DequantizeLinear -> Reshape to rewrite."""
        dq = self.producer.get(x)
        if dq is None or dq.op_type != "DequantizeLinear":
            return self.op("Reshape", [x, self.ints(shape)], out)
        r = self.op("Reshape", [dq.input[0], self.ints(shape)], f"{out}/int")
        return self.op("DequantizeLinear", [r, *dq.input[1:]], out)

    def round_to_grid(self, x: str, fp: int, mode: str, out: str) -> str:
        """``x`` rounded to the grid 2^-fp with the xir rounding ``mode`` (exact in float32 while
        the value has at most 24 significant bits): DPU_ROUND floor(v + 1/2), STD_ROUND
        sign(v) * floor(|v| + 1/2), PY3_ROUND is QuantizeLinear's own rounding (nothing to add)."""
        if mode == "PY3_ROUND":
            return x
        v = self.op("Mul", [x, self.scalar(2.0 ** fp)], f"{out}/scaled")
        if mode == "DPU_ROUND":
            r = self.op("Floor", [self.op("Add", [v, self.scalar(0.5)], f"{out}/half_up")], f"{out}/floor")
        elif mode == "STD_ROUND":
            a = self.op("Floor", [self.op("Add", [self.op("Abs", [v], f"{out}/abs"), self.scalar(0.5)],
                                          f"{out}/half_away")], f"{out}/floor")
            r = self.op("Mul", [self.op("Sign", [v], f"{out}/sign"), a], f"{out}/signed")
        else:
            raise VaiqError(f"round mode {mode!r} has no ONNX form")
        return self.op("Mul", [r, self.scalar(2.0 ** -fp)], f"{out}/rounded")

    def qdq(self, x: str, fp: int, bw: int, out: str, what: str, mode: str | None = None) -> str:
        """QuantizeLinear -> DequantizeLinear at ``fp`` (plus a Clip when ``bw`` is narrower than
        the carrier); the result is named ``out``. With ``mode`` (a value that rounds here) and
        exact rounding on, the value is first rounded to the grid with that mode, so
        QuantizeLinear only saturates."""
        cbits = _carrier_bits(bw, what)
        if cbits == 16 and self.opset < INT16_OPSET:
            raise VaiqError(f"{what} has bit width {bw}, which needs int16 QuantizeLinear: "
                            f"use opset_version >= {INT16_OPSET}")
        if mode is not None and self.exact:
            x = self.round_to_grid(x, fp, mode, out)
        ntype = CARRIERS[cbits]
        scale = self.init(f"fix/{_fp_tag(fp)}/scale", np.array(2.0 ** -fp, dtype=np.float32))
        zero = self.init(f"fix/zero_int{cbits}", np.array(0, dtype=ntype))
        qv = self.op("QuantizeLinear", [x, scale, zero], f"{out}/q")
        if bw == cbits:
            return self.op("DequantizeLinear", [qv, scale, zero], out)
        dq = self.op("DequantizeLinear", [qv, scale, zero], f"{out}/dq")
        lo, hi = -(2 ** (bw - 1)), 2 ** (bw - 1) - 1
        return self.op("Clip", [dq, self.scalar(lo * 2.0 ** -fp), self.scalar(hi * 2.0 ** -fp)], out)

    def param(self, n, key: str, value=None) -> str:
        """A weight (int8/int16 initializer) or bias (int32) on its fix grid, dequantized. The bias
        is stored at the accumulator scale 2^-(input fix + weight fix) as QDQ tools expect,
        unless its own grid is finer (a negative bias shift), which then keeps its own scale."""
        pk = f"{n.name}.{key}"
        fp, bw = self.t.param_pos[pk], self.t.param_bits[pk]
        v = self.qparams[n.name][key] if value is None else value
        if key == "bias":
            acc = self.t.get(n.inputs[0]) + self.t.param_pos[f"{n.name}.weight"]
            fp = max(fp, acc)
            ints = np.rint(v.double().numpy() * 2.0 ** fp)
            if np.abs(ints).max(initial=0) >= 2 ** 31:
                raise VaiqError(f"bias of node '{n.name}' does not fit int32 at fix position {fp}")
            dtype = np.int32
        else:
            cbits = _carrier_bits(bw, f"weight of node '{n.name}'")
            if cbits == 16 and self.opset < INT16_OPSET:
                raise VaiqError(f"weight of node '{n.name}' has bit width {bw}, which needs int16 "
                                f"DequantizeLinear: use opset_version >= {INT16_OPSET}")
            dtype = CARRIERS[cbits]
            ints = np.rint(v.double().numpy() * 2.0 ** fp)
        q = self.init(f"{n.name}/{key}_quantized", ints.astype(dtype))
        scale = self.init(f"fix/{_fp_tag(fp)}/scale", np.array(2.0 ** -fp, dtype=np.float32))
        zero = self.init(f"fix/zero_{np.dtype(dtype).name}", np.array(0, dtype=dtype))
        return self.op("DequantizeLinear", [q, scale, zero], f"{n.name}/{key}")

    def _rename_last(self, y: str, final: str) -> str:
        """Give the tensor ``y`` that the last op just produced its node's name."""
        last = self.nodes[-1]
        if list(last.output) == [y]:
            last.output[0] = final
            self.producer[final] = last
            return final
        return self.op("Identity", [y], final)

    # -- activations -----------------------------------------------------------------------------
    def act(self, kind: str, x: str, base: str, float_attrs: dict | None = None) -> str:
        """``kind`` applied to ``x``; ``float_attrs`` selects the float (CPU) formulas."""
        out = f"{base}/{kind}"
        if kind == "relu":
            return self.op("Relu", [x], out)
        if kind == "relu6":
            return self.op("Clip", [x, self.scalar(0.0), self.scalar(6.0)], out)
        if kind == "leaky-relu":
            alpha = float(np.float32(float_attrs["alpha"])) if float_attrs is not None else LEAKY_ALPHA
            return self.op("LeakyRelu", [x], out, alpha=alpha)
        r6 = self.op("Clip", [self.op("Add", [x, self.scalar(3.0)], f"{out}/add3"),
                              self.scalar(0.0), self.scalar(6.0)], f"{out}/relu6")
        if float_attrs is not None:          # xir float kernels: clip(x + 3, 0, 6) / 6
            if kind == "hard-sigmoid":
                return self.op("Div", [r6, self.scalar(6.0)], out)
            return self.op("Div", [self.op("Mul", [x, r6], f"{out}/mul"), self.scalar(6.0)], out)
        hsig = self.op("Mul", [r6, self.scalar(HSIG_SCALE)], f"{out}/hsigmoid" if kind == "hard-swish" else out)
        if kind == "hard-sigmoid":
            return hsig
        gate = self.qdq(hsig, fixpoint.HSWISH_GATE_FIX_POS, fixpoint.HSWISH_GATE_BIT_WIDTH, f"{out}/gate",
                        f"hard-swish gate of '{base}'", "DPU_ROUND")
        return self.op("Mul", [x, gate], out)

    # -- graph walk ------------------------------------------------------------------------------
    def build(self) -> None:
        for n in self.g.nodes:
            if n.kind == "input":
                y = n.name
                final = f"{n.name}/fix"
            else:
                fn = getattr(self, "k_" + n.kind.replace("-", "_"), None)
                if fn is None:
                    what = f"a replayed torch call ({n.source})" if n.kind == "torch" else f"kind '{n.kind}'"
                    raise VaiqError(f"node '{n.name}' is {what}, which has no ONNX form; replace the op in the "
                                    "model or export TorchScript (export_torch_script) instead")
                y = fn(n, [self.val[i] for i in n.inputs])
                if n.act:
                    y = self.act(n.act, y, n.name)
                final = n.name
            if has_fix(n):
                rounds = None if n.quant == "shared" else self.q.config.round_for(n)
                y = self.qdq(y, self.t.get(n.name), self.t.bw(n.name), final, f"tensor '{n.name}'", rounds)
            elif y != final and n.kind != "input":     # a float input (outside QuantStub regions) stays as is
                y = self._rename_last(y, final)
            self.val[n.name] = y

    # -- kinds: quantized (DPU) ops ------------------------------------------------------------------
    def _pads(self, n, x_name: str) -> list[int]:
        """Begin/end pads that reproduce torch's floor/ceil output size without ceil_mode."""
        a = n.attrs
        (kh, kw), (sh, sw), (ph, pw) = a["kernel"], a["stride"], a["padding"]
        h, w = self.shape[x_name][2:]
        ends = []
        for size, k, s, p in ((h, kh, sh, ph), (w, kw, sw, pw)):
            num = size + 2 * p - k
            out = (num + (s - 1 if a["ceil_mode"] else 0)) // s + 1
            if a["ceil_mode"] and (out - 1) * s >= size + p:
                out -= 1
            ends.append(p + max(0, (out - 1) * s + k - (size + 2 * p)))
        return [ph, pw, ends[0], ends[1]]

    def layer_params(self, n, w_fn=None, bias_after_shape=None) -> tuple[str, str | None, str | None]:
        """(weight, bias in the layer, bias added after it) of a conv / dense node, the weight laid out
        by ``w_fn`` (a function of the torch tensor) when given. A float (CPU) layer
        has float32 initializers. A quantized layer's bias on a grid finer than the accumulator's goes
        into an Add after the layer (shaped ``bias_after_shape``): int8 back ends read a layer's bias at
        the accumulator scale (onnxruntime's fused QGemm ignores its DequantizeLinear's scale)."""
        if n.quant == "float":
            p = self.q.quant_model.params_of(n.name)
            w = p["weight"].detach().float()
            w = self.init(f"{n.name}/weight_float", (w_fn(w) if w_fn else w).contiguous().numpy())
            b = self.init(f"{n.name}/bias_float", p["bias"].detach().float().numpy()) if "bias" in p else None
            return w, b, None
        qp = self.qparams[n.name]
        w = self.param(n, "weight", w_fn(qp["weight"]).contiguous() if w_fn else None)
        if "bias" not in qp:
            return w, None, None
        if self.t.param_pos[f"{n.name}.bias"] <= self.t.get(n.inputs[0]) + self.t.param_pos[f"{n.name}.weight"]:
            return w, self.param(n, "bias"), None
        shaped = qp["bias"].reshape(bias_after_shape) if bias_after_shape else None
        return w, None, self.param(n, "bias", shaped)

    def _with_bias(self, n, y: str, after: str | None) -> str:
        return self.op("Add", [y, after], f"{n.name}/add_bias") if after else y

    def k_conv2d(self, n, xs):
        a = n.attrs
        w, b, after = self.layer_params(n, bias_after_shape=(-1, 1, 1))
        kh, kw = self.q.quant_model.params_of(n.name)["weight"].shape[2:]
        y = self.op("Conv", [xs[0], w] + ([b] if b else []), f"{n.name}/conv", kernel_shape=[kh, kw],
                    strides=list(a["stride"]), pads=[a["padding"][0], a["padding"][1]] * 2,
                    dilations=list(a["dilation"]), group=int(a["groups"]))
        return self._with_bias(n, y, after)

    def k_transposed_conv2d(self, n, xs):
        a = n.attrs
        if n.quant != "own":
            raise VaiqError(f"node '{n.name}': a float transposed convolution cannot be exported; keep it quantized")
        w, b, after = self.layer_params(n, bias_after_shape=(-1, 1, 1))
        kh, kw = self.qparams[n.name]["weight"].shape[2:]
        y = self.op("ConvTranspose", [xs[0], w] + ([b] if b else []), f"{n.name}/conv_transpose",
                    kernel_shape=[kh, kw], strides=list(a["stride"]), pads=[a["padding"][0], a["padding"][1]] * 2,
                    dilations=list(a["dilation"]), group=int(a["groups"]), output_padding=list(a["output_padding"]))
        return self._with_bias(n, y, after)

    def k_inner_product(self, n, xs):
        m, k = self.q.quant_model.params_of(n.name)["weight"].shape
        if self.exact:
            # a 1x1 Conv over the rows, not Gemm / MatMul: onnxruntime's default optimizations fuse
            # DequantizeLinear -> Gemm / MatMul into int8 kernels (QGemm, MatMulIntegerToFloat) that
            # are not exact (see the module docstring); a Conv stays a float op
            w, b, after = self.layer_params(n, lambda t: t.reshape(m, k, 1, 1), (-1, 1, 1))
            rows = self.reshape_grid(xs[0], [-1, int(k), 1, 1], f"{n.name}/rows")
            y = self._with_bias(n, self.op("Conv", [rows, w] + ([b] if b else []), f"{n.name}/conv1x1",
                                           kernel_shape=[1, 1]), after)
            if self.rank[n.inputs[0]] == 2:
                return self.op("Flatten", [y], f"{n.name}/flatten", axis=1)
            lead = self.op("Slice", [self.op("Shape", xs[:1], f"{n.name}/in_shape"), self.ints([0]),
                                     self.ints([-1])], f"{n.name}/lead_dims")
            shape = self.op("Concat", [lead, self.ints([int(m)])], f"{n.name}/out_shape", axis=0)
            return self.op("Reshape", [y, shape], f"{n.name}/reshape")
        if self.rank[n.inputs[0]] == 2:
            w, b, after = self.layer_params(n)
            return self._with_bias(n, self.op("Gemm", [xs[0], w] + ([b] if b else []), f"{n.name}/gemm", transB=1),
                                   after)
        w, b, after = self.layer_params(n, lambda t: t.t())
        return self._with_bias(n, self.op("MatMul", [xs[0], w], f"{n.name}/matmul"), b or after)

    def _operands(self, n, xs):
        """A node with a Python number (``attrs["scalar"]``, on the left when ``reverse``) reads it as a
        float32 scalar initializer, as the deploy model's one-element const."""
        if "scalar" not in n.attrs:
            return xs
        c = self.scalar(float(np.float32(n.attrs["scalar"])))
        return [c, xs[0]] if n.attrs.get("reverse") else [xs[0], c]

    def k_add(self, n, xs):
        return self.op("Add", self._operands(n, xs), f"{n.name}/add")

    def k_mul(self, n, xs):
        return self.op("Mul", self._operands(n, xs), f"{n.name}/mul")

    def k_concat(self, n, xs):
        return self.op("Concat", xs, f"{n.name}/concat", axis=n.attrs["dim"] % self.rank[n.name])

    def k_maxpool2d(self, n, xs):
        a = n.attrs
        return self.op("MaxPool", xs[:1], f"{n.name}/maxpool", kernel_shape=list(a["kernel"]),
                       strides=list(a["stride"]), pads=self._pads(n, n.inputs[0]))

    def k_avgpool2d(self, n, xs):
        a = n.attrs
        kh, kw = a["kernel"]
        factor, shift = fixpoint.avgpool_factor_shift(kh, kw)
        y = self.op("AveragePool", xs[:1], f"{n.name}/avgpool", kernel_shape=[kh, kw],
                    strides=list(a["stride"]), pads=self._pads(n, n.inputs[0]), count_include_pad=1)
        if self.exact:   # recover the exact window sum (on the input grid) from the float mean
            fi = self.t.get(n.inputs[0])
            y = self.op("Round", [self.op("Mul", [y, self.scalar(kh * kw * 2.0 ** fi)], f"{n.name}/sum_scaled")],
                        f"{n.name}/sum_int")
            y = self.op("Mul", [y, self.scalar(factor * 2.0 ** -(shift + fi))], f"{n.name}/dpu_factor")
        else:
            y = self.op("Mul", [y, self.scalar(kh * kw * factor / 2.0 ** shift)], f"{n.name}/dpu_factor")
        if a.get("squeeze"):
            y = self.op("Flatten", [y], f"{n.name}/squeeze", axis=1)
        return y

    def _unary_act(self, n, xs):
        return self.act(n.kind, xs[0], n.name, dict(n.attrs) if n.quant == "float" else None)

    k_relu = k_relu6 = k_leaky_relu = k_hard_sigmoid = k_hard_swish = _unary_act

    # -- kinds: layout ---------------------------------------------------------------------------
    def k_flatten(self, n, xs):
        r = self.rank[n.inputs[0]]
        s, e = n.attrs["start_dim"] % r, n.attrs["end_dim"] % r
        if s == 1 and e == r - 1:
            return self.op("Flatten", xs, f"{n.name}/flatten", axis=1)
        shape = [0] * s + [-1] + list(self.shape[n.inputs[0]][e + 1:])
        return self.op("Reshape", [xs[0], self.ints(shape)], f"{n.name}/reshape")

    def k_reshape(self, n, xs):
        want = list(n.attrs["shape"])
        if want and want[0] == self.batch:
            want = [0] + list(n.shape[1:])      # keep the batch dimension, as quant_model does
        return self.op("Reshape", [xs[0], self.ints(want)], f"{n.name}/reshape")

    def k_transpose(self, n, xs):
        return self.op("Transpose", xs, f"{n.name}/transpose", perm=list(n.attrs["dims"]))

    def k_strided_slice(self, n, xs):
        a = n.attrs
        return self.op("Slice", [xs[0], self.ints([a["start"]]), self.ints([a["end"]]), self.ints([a["dim"]]),
                                 self.ints([a["step"]])], f"{n.name}/slice")

    def k_pad(self, n, xs):
        left, right, top, bottom = n.attrs["pad"]
        r = self.rank[n.inputs[0]]
        begin, end = [0] * (r - 2) + [top, left], [0] * (r - 2) + [bottom, right]
        mode = n.attrs.get("mode", "constant")
        if mode != "constant":
            return self.op("Pad", [xs[0], self.ints(begin + end)], f"{n.name}/pad", mode=mode)
        return self.op("Pad", [xs[0], self.ints(begin + end), self.scalar(float(n.attrs["value"]))],
                       f"{n.name}/pad", mode="constant")

    def k_upsample(self, n, xs):
        sh, sw = n.attrs["scale"]
        scales = self.init(f"scales/{sh}x{sw}", np.array([1, 1, sh, sw], dtype=np.float32))
        return self.op("Resize", [xs[0], "", scales], f"{n.name}/resize", mode="nearest",
                       coordinate_transformation_mode="asymmetric", nearest_mode="floor")

    def k_identity(self, n, xs):
        return self.op("Identity", xs, f"{n.name}/identity")

    # -- kinds: float (CPU) ops ----------------------------------------------------------------------
    def k_resize(self, n, xs):
        h, w = n.attrs["size"]
        shape = self.op("Shape", xs[:1], f"{n.name}/shape")
        nc = self.op("Slice", [shape, self.ints([0]), self.ints([2])], f"{n.name}/batch_channels")
        sizes = self.op("Concat", [nc, self.ints([h, w])], f"{n.name}/sizes", axis=0)
        ac = bool(n.attrs["align_corners"])
        if n.attrs.get("mode", "BILINEAR") == "NEAREST":
            return self.op("Resize", [xs[0], "", "", sizes], f"{n.name}/resize", mode="nearest",
                           coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        return self.op("Resize", [xs[0], "", "", sizes], f"{n.name}/resize", mode="linear",
                       coordinate_transformation_mode="align_corners" if ac else "pytorch_half_pixel")

    def k_sigmoid(self, n, xs):
        return self.op("Sigmoid", xs, f"{n.name}/sigmoid")

    def k_tanh(self, n, xs):
        return self.op("Tanh", xs, f"{n.name}/tanh")

    def k_softmax(self, n, xs):
        return self.op("Softmax", xs, f"{n.name}/softmax", axis=n.attrs["dim"] % self.rank[n.name])

    def k_sub(self, n, xs):
        return self.op("Sub", self._operands(n, xs), f"{n.name}/sub")

    def k_div(self, n, xs):
        return self.op("Div", self._operands(n, xs), f"{n.name}/div")

    def k_matmul(self, n, xs):
        return self.op("MatMul", xs, f"{n.name}/matmul")

    def _reduce(self, n, xs, onnx_op, tag):
        axes, keep = [int(d) for d in n.attrs["dims"]], int(bool(n.attrs["keepdim"]))
        if self.opset >= 18:
            return self.op(onnx_op, [xs[0], self.ints(axes)], f"{n.name}/{tag}", keepdims=keep)
        return self.op(onnx_op, xs, f"{n.name}/{tag}", axes=axes, keepdims=keep)

    def k_reduction_mean(self, n, xs):
        return self._reduce(n, xs, "ReduceMean", "mean")

    def k_reduction_max(self, n, xs):
        return self._reduce(n, xs, "ReduceMax", "max")


def _value_info(name: str, shape: tuple[int, ...], dynamic_batch: bool) -> onnx.ValueInfoProto:
    dims = list(shape)
    if dynamic_batch and dims:
        dims[0] = BATCH_DIM
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def _opset(opset_version: int | None, q) -> int:
    top = onnx.defs.onnx_opset_version()
    if opset_version is None:
        wide = any(q.table.bw(n.name) > 8 for n in q.graph.nodes if has_fix(n)) or \
            any(b > 8 for k, b in q.table.param_bits.items() if not k.endswith(".bias"))
        return INT16_OPSET if wide else DEFAULT_OPSET
    v = int(opset_version)
    if not MIN_OPSET <= v <= top:
        raise VaiqError(f"opset_version {v} is outside the supported range {MIN_OPSET}..{top}")
    return v


def build_onnx(q, dynamic_batch: bool = False, opset_version: int | None = None,
               exact_rounding: bool = True) -> onnx.ModelProto:
    """The ONNX model of a quantizer in test mode (checked with onnx.checker)."""
    opset = _opset(opset_version, q)
    b = _Builder(q, opset, exact_rounding)
    b.build()
    g = q.graph
    outputs: list[str] = []
    for name in g.outputs:
        if b.val[name] != name or name in outputs:     # an input returned as it is, or a repeated output
            copy = f"{name}_out{len(outputs)}"
            b.op("Identity", [b.val[name]], copy)
            name = copy
        outputs.append(name)
    inputs = [_value_info(i, tuple(g.input_shapes[i]), dynamic_batch) for i in g.inputs]
    outs = [_value_info(o, tuple(g.node(src).shape), dynamic_batch) for o, src in zip(outputs, g.outputs)]
    graph = helper.make_graph(b.nodes, g.name, inputs, outs, b.inits)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="vaiq",
                              ir_version=helper.find_min_ir_version_for(opsets),
                              doc_string="vaiq QDQ export: power-of-two scales, zero point 0; " +
                              ("DPU rounding (half up) written as Floor before each QuantizeLinear" if exact_rounding
                               else "QuantizeLinear rounds half to even where the DPU rounds half up"))
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise VaiqError(f"the ONNX model of {g.name} does not validate: {str(e).splitlines()[0]}") from None
    return model


def export_onnx(q, out_dir: Path, dynamic_batch: bool = False, opset_version: int | None = None,
                exact_rounding: bool = True) -> Path:
    """Write ``<out_dir>/<Net>_int.onnx``; ``dynamic_batch`` makes dimension 0 symbolic;
    ``exact_rounding=False`` leaves the rounding to QuantizeLinear (plain QDQ, half to even)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = build_onnx(q, dynamic_batch=dynamic_batch, opset_version=opset_version, exact_rounding=exact_rounding)
    path = out_dir / f"{q.graph.name}_int.onnx"
    write_atomic(path, model.SerializeToString(deterministic=True))
    return path
