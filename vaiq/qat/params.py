"""``qat_param.pth``: the trained tensors of a deployable QAT model, beside its quant_info.json.

Rule: a ``torch.save`` dict ``{"format", "graph_md5", "params": {node: {"weight"|"bias": tensor}}}``
holding every node's tensors of the deploy graph (BatchNorm folded), keyed by node name, with the
fingerprint of that graph. The quant_info.json written with it names it (key ``qat_param``), so test
mode loads it exactly when it reads that quant_info.json (a later post-training calibration into the
same folder rewrites quant_info.json without the key, and a stale file is ignored); a file whose
fingerprint, nodes or shapes do not match the model is refused. Written atomically.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch

from xir.xmodel import write_atomic

from ..errors import QuantInfoError

PARAM_FILE = "qat_param.pth"
FORMAT = "vaiq-qat-param 1"


def write_params(path: Path, graph, values: dict[str, dict[str, torch.Tensor]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"format": FORMAT, "graph_md5": graph.md5(),
            "params": {n: {k: v.detach().float().cpu().contiguous() for k, v in p.items()} for n, p in values.items()}}
    buf = io.BytesIO()
    torch.save(blob, buf)
    write_atomic(path, buf.getvalue())
    return path


def read_params(path: Path, graph) -> dict[str, dict[str, torch.Tensor]]:
    """The tensors of ``path`` checked against ``graph`` (the test-mode quantizer's prepared graph)."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 (any unreadable file is the same user error)
        raise QuantInfoError(f"{path}: cannot read it ({type(e).__name__}); write it again with "
                             "QatProcessor.to_deployable()") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise QuantInfoError(f"{path}: not a vaiq QAT parameter file ({FORMAT})")
    if blob.get("graph_md5") != graph.md5():
        raise QuantInfoError(f"{path}: written for another model (graph fingerprint differs); pass the "
                             "model QatProcessor was made with, or write it again with to_deployable()")
    params = blob["params"]
    for n in graph.nodes:
        if not n.params:
            continue
        got = params.get(n.name)
        if got is None or set(got) != set(n.params):
            raise QuantInfoError(f"{path}: no tensors for node '{n.name}' ({sorted(n.params)})")
        for k, v in got.items():
            if tuple(v.shape) != tuple(n.params[k].shape):
                raise QuantInfoError(f"{path}: '{n.name}.{k}' has shape {tuple(v.shape)}, the model "
                                     f"needs {tuple(n.params[k].shape)}")
    return params


def load_params(quant_model, info_path: Path, name: str) -> None:
    """Put the tensors of the file ``name`` that the quant_info.json at ``info_path`` names into a
    test-mode QuantModule (its cached quantized params reset)."""
    from ..qmodule import _buf
    if name != PARAM_FILE:
        raise QuantInfoError(f"{info_path}: 'qat_param' is {name!r}; vaiq writes '{PARAM_FILE}'")
    path = Path(info_path).parent / name
    if not path.exists():
        raise QuantInfoError(f"{info_path} belongs to a QAT result but {path} is missing; copy the folder "
                             "whole, or write it again with QatProcessor.to_deployable()")
    params = read_params(path, quant_model.graph)
    with torch.no_grad():
        for node, p in params.items():
            for k, v in p.items():
                getattr(quant_model, _buf(node, k)).copy_(v)
    quant_model._qparams = None
