"""Export the quantized model as TorchScript: ``<Net>_int.pt``.

Rules:
- the exported module computes what ``quant_model`` computes in test mode: every quantized node in
  float64 through vaiq.run_exact's torch code (same formulas, same single DPU_ROUND rounding and
  saturation), weights and biases stored on their fix grids as float64 buffers; float32 in, float32 out;
- float (CPU) nodes, which quant_model runs through the numpy xir float kernels, are rewritten here
  with torch ops following the same float64 formulas (input rounded to float32, result rounded to
  float32), because tracing would freeze a numpy result as a constant; libm and torch may still
  differ in the last bit of a transcendental function, so values after such a node can move by one
  quantization step;
- the module is made with ``torch.jit.trace`` of that graph walk (no data-dependent control flow
  exists in it); batch-dependent reshapes are written with -1, so the traced module accepts any
  batch size that the model itself accepts, and the export checks this by running the traced module
  on other data of a second batch size and comparing it with the untraced walk bit for bit;
- the module also carries the float model as a ``torch.export`` program and the calibration result
  (uint8 buffers ``vaiq_float_program``, ``vaiq_quant_info`` and, when the biases were corrected,
  ``vaiq_bias_corr`` holding bias_corr.pth; unused by its forward), so a deployment
  flow given only this file (WeGO-Torch's TorchScript mode) can partition and compile the model;
- the file is written atomically (temporary file, then rename).
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils._pytree import tree_unflatten

from xir.kernels.layout import nearest_indices
from xir.xmodel import write_atomic

from . import run_exact
from .errors import VaiqError
from .prepare import has_fix

FLOAT_ACTS = ("relu", "relu6", "leaky-relu", "hard-sigmoid", "hard-swish")
SEED = 0


def _f32(x: torch.Tensor) -> torch.Tensor:
    """The float32 rounding at the boundary of an xir float kernel, carried as float64."""
    return x.float().double()


def _sigmoid(x):
    e = torch.exp(-torch.abs(x))
    return torch.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(x, dim: int):
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def _float_act(x, kind: str, attrs: dict):
    if kind == "relu":
        return torch.clamp(x, min=0.0)
    if kind == "relu6":
        return torch.clamp(x, 0.0, 6.0)
    if kind == "leaky-relu":
        return torch.where(x >= 0, x, x * float(np.float32(attrs["alpha"])))
    r6 = torch.clamp(x + 3.0, 0.0, 6.0)
    return r6 / 6.0 if kind == "hard-sigmoid" else x * r6 / 6.0


def _bilinear_axis(n_in: int, n_out: int, align_corners: bool):
    """Source indices and weights of one axis, as xir.kernels.float_ops.resize computes them
    (half-pixel centers unless align_corners)."""
    if align_corners:
        scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        src = np.arange(n_out, dtype=np.float64) * scale
    else:
        src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.maximum(src, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return torch.from_numpy(i0), torch.from_numpy(i1), torch.from_numpy(src - i0)


def _resize_nearest(x, size):
    """Nearest resize with xir.kernels.layout.nearest_indices's integer rule (floor(i * in / out))."""
    ys = torch.from_numpy(nearest_indices(int(x.shape[2]), size[0]))
    xs = torch.from_numpy(nearest_indices(int(x.shape[3]), size[1]))
    return x.index_select(2, ys).index_select(3, xs)


def _resize_bilinear(x, size, align_corners: bool):
    h, w = x.shape[2], x.shape[3]
    y0, y1, ly = _bilinear_axis(int(h), size[0], align_corners)
    x0, x1, lx = _bilinear_axis(int(w), size[1], align_corners)
    ly, lx = ly.reshape(1, 1, -1, 1), lx.reshape(1, 1, 1, -1)
    top, bottom = x.index_select(2, y0), x.index_select(2, y1)
    row_top = (1.0 - lx) * top.index_select(3, x0) + lx * top.index_select(3, x1)
    row_bottom = (1.0 - lx) * bottom.index_select(3, x0) + lx * bottom.index_select(3, x1)
    return (1.0 - ly) * row_top + ly * row_bottom


def float_node(n, xs: list[torch.Tensor]) -> torch.Tensor | None:
    """The torch form of a node quant_model runs through numpy (None: run_exact's torch code applies)."""
    k, a = n.kind, n.attrs
    if k == "sigmoid":
        return _f32(_sigmoid(_f32(xs[0])))
    if k == "tanh":
        return _f32(torch.tanh(_f32(xs[0])))
    if k == "softmax":
        return _f32(_softmax(_f32(xs[0]), a["dim"]))
    if k == "reduction_mean":
        return _f32(torch.mean(_f32(xs[0]), dim=list(a["dims"]), keepdim=bool(a["keepdim"])))
    if k == "reduction_max":
        return _f32(torch.amax(_f32(xs[0]), dim=list(a["dims"]), keepdim=bool(a["keepdim"])))
    if k == "resize" and a.get("mode", "BILINEAR") == "NEAREST":
        return _resize_nearest(xs[0], a["size"])
    if k == "resize":
        return _f32(_resize_bilinear(_f32(xs[0]), a["size"], bool(a["align_corners"])))
    if k in FLOAT_ACTS and n.quant == "float":
        return _f32(_float_act(_f32(xs[0]), k, a))
    return None


class QuantizedGraph(torch.nn.Module):
    """The test-mode forward of a quantizer with torch ops only (the module that gets traced)."""

    def __init__(self, q):
        super().__init__()
        self.graph = q.graph
        self.nodes = list(q.graph.nodes)
        self.round = {n.name: q.config.round_for(n) for n in self.nodes}
        self.fix = {n.name: (q.table.get(n.name), q.table.bw(n.name))
                    for n in self.nodes if has_fix(n) and n.quant != "shared"}
        self.batch = next(iter(q.graph.input_shapes.values()))[0] if q.graph.input_shapes else 1
        self._bufs: dict[str, dict[str, str]] = {}
        for node, params in q.quant_model.quantized_params().items():
            for key, value in params.items():
                buf = f"q__{node}__{key}".replace(".", "_")
                self.register_buffer(buf, value.detach().double().clone())
                self._bufs.setdefault(node, {})[key] = buf

    def forward(self, *args):
        g = self.graph
        vals: dict[str, torch.Tensor] = {}
        for n in self.nodes:
            if n.kind == "input":
                y = args[g.inputs.index(n.name)].double()
            else:
                xs = [vals[i] for i in n.inputs]
                y = float_node(n, xs)
                if y is None and n.kind == "reshape" and n.attrs["shape"] and n.attrs["shape"][0] == self.batch:
                    y = xs[0].reshape((-1,) + tuple(n.shape[1:]))
                if y is None:
                    qp = {k: getattr(self, b) for k, b in self._bufs.get(n.name, {}).items()}
                    y = run_exact.run_node(n, xs, qp)
            if n.name in self.fix:
                fp, bw = self.fix[n.name]
                y = run_exact.quantize_out(y, fp, bw, self.round[n.name])
            vals[n.name] = y
        outs = [vals[o].float() for o in g.outputs]
        if g.output_structure is None:
            return outs[0] if len(outs) == 1 else tuple(outs)
        return tree_unflatten(outs, g.output_structure)


def _inputs(q, batch: int, seed: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn((batch,) + tuple(q.graph.input_shapes[i][1:]), generator=gen) for i in q.graph.inputs)


def _flat(out) -> list[torch.Tensor]:
    return torch.utils._pytree.tree_leaves(out)


def _ignore_jit_deprecation() -> None:
    """Inside a catch_warnings block: drop torch.jit's own deprecation notice, which torch releases
    issue as a DeprecationWarning or as a FutureWarning (nothing else is silenced)."""
    for cat in (DeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=cat)
        warnings.filterwarnings("ignore", message=r"TorchScript is deprecated", category=cat)


def trace(q) -> torch.jit.ScriptModule:
    """Trace the quantized graph; check the trace on other data of another batch size (of the same
    size when the model fixes it) against the untraced walk, bit for bit."""
    for n in q.graph.nodes:
        if n.quant == "float" and n.kind in ("conv2d", "transposed-conv2d", "inner-product"):
            raise VaiqError(f"node '{n.name}': a float {n.kind} cannot be exported; keep it quantized")
    module = QuantizedGraph(q).eval()
    _carry_float_program(q, module)
    batch = next(iter(q.graph.input_shapes.values()))[0] if q.graph.input_shapes else 1
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        _ignore_jit_deprecation()
        try:
            traced = torch.jit.trace(module, _inputs(q, batch, SEED), strict=False, check_trace=False)
        except Exception as e:  # torch raises many exception types here
            raise VaiqError(f"{q.graph.name} could not be traced to TorchScript: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}") from None
        try:
            check = _inputs(q, batch + 1, SEED + 1)
            want = _flat(module(*check))
        except RuntimeError:            # the model itself fixes its batch size (e.g. a view(4, -1))
            check = _inputs(q, batch, SEED + 1)
            want = _flat(module(*check))
        try:
            got = _flat(traced(*check))
        except RuntimeError:
            got = []
    if len(want) != len(got) or any(not torch.equal(a, b) for a, b in zip(want, got)):
        raise VaiqError(f"the TorchScript trace of {q.graph.name} does not reproduce the quantized model on "
                        "another batch size; a node freezes batch-dependent values")
    return traced


def _carry_float_program(q, module: torch.nn.Module) -> None:
    """The float program and quant_info.json as uint8 buffers of the module (see the module rules)."""
    from .capture import export_program
    ep = export_program(q._float_module, q.example_inputs)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(ep, buf)
    files = q.quant_result_files()
    module.register_buffer("vaiq_float_program", torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8))
    module.register_buffer("vaiq_quant_info", torch.frombuffer(bytearray(files["quant_info.json"]), dtype=torch.uint8))
    if "bias_corr.pth" in files:
        module.register_buffer("vaiq_bias_corr", torch.frombuffer(bytearray(files["bias_corr.pth"]), dtype=torch.uint8))


def export_torch_script(q, out_dir: Path) -> Path:
    """Write ``<out_dir>/<Net>_int.pt`` (load it with ``torch.jit.load``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    traced = trace(q)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        _ignore_jit_deprecation()
        torch.jit.save(traced, buf)
    path = out_dir / f"{q.graph.name}_int.pt"
    write_atomic(path, buf.getvalue())
    return path
