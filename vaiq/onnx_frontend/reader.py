"""Reading an ONNX model and fixing its input shapes.

Rules:
- a model is a path to an ONNX file, its bytes or an ``onnx.ModelProto``; anything that does not parse
  as a ModelProto with a graph, or that fails ``onnx.checker.check_model``, is refused;
- the default-domain opset must be 13 or newer (older models: convert them with
  ``onnx.version_converter``); opsets newer than the installed onnx knows are refused;
- graph inputs are the graph's ``input`` entries that are not initializers; each must be a float tensor;
- every input dimension must be a positive integer once ``input_shapes`` (``{name: shape}``) is
  applied: a symbolic or unset dimension takes the given value, a fixed one must equal it, and a name
  in ``input_shapes`` that is no input of the graph is an error.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import TensorProto

from ..errors import OnnxModelError

MIN_OPSET = 13
FLOAT_TYPES = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16", TensorProto.DOUBLE: "float64",
               TensorProto.BFLOAT16: "bfloat16"}


@dataclass
class GraphInput:
    name: str
    shape: tuple[int, ...]
    dtype: str            # "float32" | "float16" | "float64" | "bfloat16"


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0][:300] if lines else type(e).__name__


def read_model(model, label: str | None = None) -> tuple[onnx.ModelProto, str]:
    """``model`` (path, bytes or ModelProto) -> (checked ModelProto, a label naming it in messages)."""
    if isinstance(model, onnx.ModelProto):
        proto, label = model, label or f"ONNX model '{model.graph.name or 'unnamed'}'"
    elif isinstance(model, (bytes, bytearray, memoryview)):
        proto, label = _parse(bytes(model), label or "the ONNX bytes"), label or "the ONNX bytes"
    elif isinstance(model, (str, Path)):
        path = Path(model).expanduser()
        label = label or str(path)
        if not path.is_file():
            raise OnnxModelError(f"{path}: no such ONNX file")
        proto = _parse(path.read_bytes(), label)
    else:
        raise OnnxModelError(f"load_onnx takes a path, bytes or an onnx.ModelProto, not {type(model).__name__}")
    if not proto.HasField("graph") or not proto.graph.node:
        raise OnnxModelError(f"{label}: holds no ONNX graph (no nodes); pass an exported .onnx model")
    _check_opset(proto, label)
    try:
        onnx.checker.check_model(proto, full_check=False)
    except Exception as e:   # onnx.checker.ValidationError and the C++ errors it wraps
        raise OnnxModelError(f"{label}: fails onnx.checker ({_first_line(e)}); re-export the model or repair it "
                             "with onnx's tools") from None
    return proto, label


def _parse(data: bytes, label: str) -> onnx.ModelProto:
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception:
        raise OnnxModelError(f"{label}: not an ONNX model (it does not parse as an ONNX ModelProto); "
                             "pass a file written by onnx.save or torch.onnx.export") from None
    if not proto.HasField("graph") or not proto.opset_import:
        raise OnnxModelError(f"{label}: not an ONNX model (no graph or no opset_import); "
                             "pass a file written by onnx.save or torch.onnx.export")
    return proto


def opset_of(proto: onnx.ModelProto) -> int:
    """The default-domain (ai.onnx) opset version the model imports."""
    for imp in proto.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return 0


def _check_opset(proto: onnx.ModelProto, label: str) -> None:
    v = opset_of(proto)
    newest = onnx.defs.onnx_opset_version()
    if v < MIN_OPSET:
        raise OnnxModelError(f"{label}: opset {v} is older than {MIN_OPSET}, the oldest vaiq reads; convert it with "
                             f"onnx.version_converter.convert_version(model, {MIN_OPSET}) or re-export with "
                             f"opset_version>={MIN_OPSET}")
    if v > newest:
        raise OnnxModelError(f"{label}: opset {v} is newer than the installed onnx knows ({newest}); upgrade onnx "
                             "or export with an older opset")


def graph_inputs(proto: onnx.ModelProto, input_shapes: dict | None, label: str,
                 check_shapes: bool = True) -> list[GraphInput]:
    """The graph's real inputs with every dimension fixed (module rules); ``check_shapes=False`` only
    lists them (their shapes as declared, unfixed dimensions 0)."""
    inits = {t.name for t in proto.graph.initializer} | {t.name for t in proto.graph.sparse_initializer}
    declared = [vi for vi in proto.graph.input if vi.name not in inits]
    given = dict(input_shapes or {})
    names = [vi.name for vi in declared]
    unknown = [n for n in given if n not in names]
    if unknown:
        raise OnnxModelError(f"{label}: input_shapes names {unknown[0]!r}, which is no input of the model; "
                             f"its inputs: {', '.join(names) or '(none)'}")
    if not declared:
        raise OnnxModelError(f"{label}: the graph has no inputs (only initializers); vaiq quantizes a model "
                             "that reads input tensors")
    out = []
    for vi in declared:
        tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if tt is None:
            raise OnnxModelError(f"{label}: input '{vi.name}' is not a tensor; vaiq quantizes models whose inputs "
                                 "are float tensors")
        if tt.elem_type not in FLOAT_TYPES:
            kind = TensorProto.DataType.Name(tt.elem_type) if tt.elem_type else "untyped"
            raise OnnxModelError(f"{label}: input '{vi.name}' is {kind}; vaiq quantizes models whose inputs are "
                                 "float tensors")
        if not check_shapes:
            dims = tt.shape.dim if tt.HasField("shape") else []
            out.append(GraphInput(vi.name, tuple(int(d.dim_value) for d in dims), FLOAT_TYPES[tt.elem_type]))
            continue
        out.append(GraphInput(vi.name, _fixed_shape(vi, tt, given.get(vi.name), label), FLOAT_TYPES[tt.elem_type]))
    return out


def _fixed_shape(vi, tt, want, label: str) -> tuple[int, ...]:
    dims = list(tt.shape.dim) if tt.HasField("shape") else None
    if want is not None:
        try:
            want = tuple(int(d) for d in want)
        except (TypeError, ValueError):
            raise OnnxModelError(f"{label}: input_shapes['{vi.name}'] = {want!r} is not a list of integers") from None
        if any(d <= 0 for d in want):
            raise OnnxModelError(f"{label}: input_shapes['{vi.name}'] = {list(want)} has a dimension that is not "
                                 "positive")
        if dims is not None:
            if len(dims) != len(want):
                raise OnnxModelError(f"{label}: input '{vi.name}' has {len(dims)} dimensions "
                                     f"({_dims_text(dims)}), input_shapes gives {len(want)} ({list(want)})")
            for i, (d, w) in enumerate(zip(dims, want)):
                if d.HasField("dim_value") and d.dim_value > 0 and d.dim_value != w:
                    raise OnnxModelError(f"{label}: input '{vi.name}' has dimension {i} fixed to {d.dim_value}, "
                                         f"input_shapes gives {w}; give the model's size or re-export it with "
                                         "that dimension dynamic")
        return want
    if dims is None:
        raise OnnxModelError(f"{label}: input '{vi.name}' has no shape; give it with input_shapes "
                             "(CLI: --input-shape NAME:1,3,224,224)")
    fixed = [d.HasField("dim_value") and d.dim_value > 0 for d in dims]
    if len(dims) >= 2 and not fixed[0] and all(fixed[1:]):
        # a dynamic batch alone (torch.onnx.export's dynamic_axes={name: {0: ...}}) is one image per call,
        # as the deploy model runs it
        return (1,) + tuple(int(d.dim_value) for d in dims[1:])
    if not all(fixed):
        raise OnnxModelError(f"{label}: input '{vi.name}' has dynamic dimensions ({_dims_text(dims)}); fix them "
                             f"with input_shapes (CLI: --input-shape {vi.name}:...)")
    return tuple(int(d.dim_value) for d in dims)


def _dims_text(dims) -> str:
    return "x".join(str(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0
                    else (d.dim_param or "?") for d in dims)
