"""vaiq's ONNX frontend: a float ONNX model becomes a torch module that vaiq quantizes like any other.

    from vaiq.onnx_frontend import load_onnx
    m = load_onnx("model.onnx", input_shapes={"x": (1, 3, 224, 224)})
    q = torch_quantizer("calib", m, m.example_inputs(), target="DPUCZDX8G/KV260")

One quantizer: the ONNX graph is interpreted with torch ops (convolutions, dense layers and batch norms
as the nn modules vaiq knows, named after the ONNX nodes), so capture, calibration, refinement, fast
finetune and every export are vaiq's own. docs/onnx.md lists the ops, the opsets and what stays float.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import OnnxModelError
from .module import OnnxModule, build_module, identifier
from .reader import MIN_OPSET, read_model, graph_inputs

__all__ = ["load_onnx", "OnnxModule", "OnnxModelError", "MIN_OPSET"]


def load_onnx(model, input_shapes: dict | None = None, name: str | None = None) -> OnnxModule:
    """An eval-mode ``nn.Module`` computing the ONNX model in float.

    ``model``: a path, the model's bytes or an ``onnx.ModelProto``; ``input_shapes``: ``{input name:
    shape}`` fixing dynamic dimensions (a dynamic batch alone is taken as 1 without it); ``name``: the module's class name, which names vaiq's outputs
    (``<name>_int.xmodel``); default: the file's stem, else the ONNX graph's name. The module has
    ``input_names``, ``output_names``, ``input_shapes`` (every dimension fixed) and ``example_inputs()``.
    Bad models raise :class:`OnnxModelError` with one line saying what is wrong and what to do.
    """
    proto, label = read_model(model)
    inputs = graph_inputs(proto, input_shapes, label)
    if name is None:
        name = Path(model).stem if isinstance(model, (str, Path)) else (proto.graph.name or "OnnxModel")
    return build_module(proto, inputs, label, identifier(name, "OnnxModel"))
