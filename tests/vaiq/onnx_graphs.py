"""Small ONNX graphs built with onnx.helper for the ONNX frontend's tests, and the onnxruntime reference."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def model(nodes, inputs: dict, outputs, inits: dict | None = None, opset: int = 17, name: str = "g"):
    """A checked model: ``inputs`` {name: shape} (float), ``outputs`` names (shapes inferred),
    ``inits`` {name: array} initializers."""
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs.items()]
    init = [numpy_helper.from_array(np.asarray(v), n) for n, v in (inits or {}).items()]
    probe = helper.make_graph(nodes, name, vi, [helper.make_empty_tensor_value_info(o) for o in outputs], init)
    m = helper.make_model(probe, opset_imports=[helper.make_opsetid("", opset)])
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(m).graph.value_info}
    outs = [inferred.get(o) or helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
    g = helper.make_graph(nodes, name, vi, outs, init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(m)
    return m


def run_ort(m: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def feeds_for(m: onnx.ModelProto, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for vi in m.graph.input:
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        out[vi.name] = (rng.standard_normal(shape) * 2).astype(np.float32)
    return out
