"""The quantizer's own graph: torch-side nodes (NCHW, torch conventions) that the quantized module
executes and the exporters translate.

Rule: every node is one op of the xir op library seen from torch (its ``kind`` is the xir type name,
attributes keep torch's conventions: stride/padding/dilation as (h, w), dims in NCHW), params are
float tensors, ``act`` is an activation fused into the node's quantization group, and ``inputs``
name producer nodes. ``quant`` says whether the node's output gets its own fix position ("own"),
shares its input's ("shared", layout ops and the DPU's same-fix ops), or stays float ("float").
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import torch

# xir kinds whose output the DPU computes with its own fix position
OWN_FIX = {"conv2d", "depthwise-conv2d", "transposed-conv2d", "inner-product", "add", "mul",
           "avgpool2d", "concat", "hard-sigmoid", "relu", "relu6", "leaky-relu", "hard-swish"}
# kinds whose output must keep the input's fix position (docs/numerics.md) or only move data
SHARED_FIX = {"maxpool2d", "pad", "upsample", "reshape", "flatten", "transpose", "strided_slice",
              "identity"}
ACTIVATIONS = {"relu": "RELU", "relu6": "RELU6", "leaky-relu": "LEAKYRELU", "hard-sigmoid": "HSIGMOID",
               "hard-swish": "HSWISH"}


def xir_resize(attrs: dict) -> dict:
    """A ``resize`` node's attributes in xir's terms: ``mode`` (BILINEAR unless NEAREST), ``align_corners``
    and ``half_pixel_centers`` (torch's bilinear interpolate without align_corners samples at pixel
    centres; its nearest mode takes ``floor(i * in / out)``, no half pixel)."""
    mode = attrs.get("mode", "BILINEAR")
    ac = bool(attrs["align_corners"])
    return {"mode": mode, "align_corners": ac, "half_pixel_centers": mode == "BILINEAR" and not ac}


@dataclass
class Node:
    name: str
    kind: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, torch.Tensor] = field(default_factory=dict)
    act: str | None = None                      # fused activation kind (an ACTIVATIONS key)
    act_attrs: dict[str, Any] = field(default_factory=dict)
    scope: str = ""                             # module path, e.g. "layer1.0.conv1"
    module_type: str = ""                       # the module class, e.g. "Conv2d"
    param_names: dict[str, str] = field(default_factory=dict)  # "weight" -> "layer1.0.conv1.weight"
    quant: str = "float"                        # "own" | "shared" | "float"
    reason: str = ""                            # why a node stays float
    shape: tuple[int, ...] = ()                 # output shape (torch layout) seen at capture
    source: str = ""                            # the aten op it came from


@dataclass
class QGraph:
    name: str
    nodes: list[Node]
    inputs: list[str]
    outputs: list[str]
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    output_structure: Any = None                # how the module returned its outputs (tensor / tuple / list)

    def node(self, name: str) -> Node:
        return self._index()[name]

    def _index(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    def users(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {n.name: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                out[i].append(n)
        return out

    def md5(self) -> str:
        """A digest of the structure (kinds, wiring, attributes, parameter shapes): quant_info.json
        records it and test mode warns when the model changed since calibration."""
        rows = []
        for n in self.nodes:
            rows.append([n.name, n.kind, n.inputs, sorted((k, repr(v)) for k, v in n.attrs.items()),
                         n.act, sorted((k, list(v.shape)) for k, v in n.params.items())])
        blob = json.dumps([self.name, self.inputs, self.outputs, rows], sort_keys=True, default=str)
        return hashlib.md5(blob.encode()).hexdigest()
