"""quant_info.json: pytorch_nndct's calibration result format (docs/vaiq.md, Outputs).

Rule: top-level keys ``param``, ``output``, ``input``, ``fast_finetuned``, ``bias_corrected``,
``version``, ``graph_md5``, and vaiq's ``cle`` (the layer pairs cross-layer equalization scaled,
vaiq.cle; absent or empty: none); every entry a list of ``[bit_width, fix_pos]`` pairs (one per tensor);
names ``<Graph>::<param path>`` for parameters and ``<Graph>::<node>`` for node outputs and inputs.
Reading accepts the v2.5-and-older flat ``[bit_width, fix_pos]`` entries too. vaiq adds, when there
are any, ``float_ops`` (each node kept float and why: outside the QuantStub regions, not run by the
target, ...) and, when quantized for a target, ``target`` (its name and fingerprint); test mode
refuses a file of another target.
"""
from __future__ import annotations

import json
from pathlib import Path

from xir import fixpoint
from xir.errors import FileError
from xir.files import read_text
from xir.xmodel import write_atomic

from .errors import QuantInfoError
from .fixtable import FixTable
from .ir import QGraph

VERSION = "vaiq 0.1.0 (pytorch_nndct 3.5 quant_info format)"
KEYS = ("param", "output", "input", "fast_finetuned", "bias_corrected", "version", "graph_md5", "cle")


def param_key(g: QGraph, node, what: str) -> str:
    return f"{g.name}::{node.param_names.get(what) or f'{node.scope or node.name}.{what}'}"


def node_key(g: QGraph, name: str) -> str:
    return f"{g.name}::{name}"


def target_entry(target) -> dict | None:
    return None if target is None else {"name": target.key or target.name, "fingerprint": target.fingerprint_hex}


def to_dict(g: QGraph, table: FixTable, target=None) -> dict:
    param, output, inputs = {}, {}, {}
    for n in g.nodes:
        for k in n.params:
            key = f"{n.name}.{k}"
            if key in table.param_pos:
                param[param_key(g, n, k)] = [[table.param_bits[key], table.param_pos[key]]]
    for name in table.owners():
        entry = [[table.bw(name), table.get(name)]]
        if name in g.inputs:
            inputs[node_key(g, name)] = entry
        else:
            output[node_key(g, name)] = entry
    data = {"param": param, "output": output, "input": inputs, "fast_finetuned": False,
            "bias_corrected": False, "version": VERSION, "graph_md5": g.md5(), "cle": []}
    float_ops = {n.name: n.reason or f"{n.kind} has no fixed-point form" for n in g.nodes
                 if n.quant == "float" and n.kind != "input"}
    if float_ops:
        data["float_ops"] = float_ops
    if target is not None:
        data["target"] = target_entry(target)
    return data


def dumps(data: dict) -> bytes:
    """The bytes of a quant_info.json."""
    return (json.dumps(data, indent=2) + "\n").encode()


def write(path: Path, data: dict) -> None:
    """Atomic write (temporary file + rename) of a quant_info.json."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, dumps(data))


def _entry(path, key, v) -> tuple[int, int]:
    if isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) or x is None for x in v):
        v = [v]  # v2.5 flat form
    if not (isinstance(v, list) and v and isinstance(v[0], list) and len(v[0]) == 2):
        raise QuantInfoError(f"{path}: entry '{key}' is not [[bit_width, fix_pos]]")
    bw, fp = v[0]
    if fp is None:
        raise QuantInfoError(f"{path}: '{key}' has no fix position (calibration did not reach it); "
                             "re-run calibration")
    if type(bw) is not int or type(fp) is not int or not 2 <= bw <= 16:
        raise QuantInfoError(f"{path}: entry '{key}' = {v} is not [[bit_width 2..16, integer fix_pos]]")
    if abs(fp) > fixpoint.FIX_POS_LIMIT:
        raise QuantInfoError(f"{path}: entry '{key}' has fix position {fp}, outside -{fixpoint.FIX_POS_LIMIT}.."
                             f"{fixpoint.FIX_POS_LIMIT} (no calibration gives it: the file is corrupt); re-run "
                             "calibration")
    return bw, fp


def read(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise QuantInfoError(f"{path}: no such file; run the quantizer with quant_mode='calib' and "
                             "export_quant_config() first")
    try:
        data = json.loads(read_text(path, "quant_info.json"))
    except FileError as e:
        raise QuantInfoError(str(e)) from None
    except json.JSONDecodeError as e:
        raise QuantInfoError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or not {"param", "output"} <= set(data):
        raise QuantInfoError(f"{path}: not a quant_info.json (needs 'param' and 'output')")
    for key in ("param", "output", "input"):
        if key in data and not isinstance(data[key], dict):
            raise QuantInfoError(f"{path}: '{key}' must map names to [[bit_width, fix_pos]], got "
                                 f"{type(data[key]).__name__}")
    return data


def load_into(g: QGraph, table: FixTable, data: dict, path, target=None) -> list[str]:
    """Fill ``table`` from a quant_info dict; returns warnings (e.g. graph changed since calibration).
    A file calibrated for another target (or none) than ``target`` is refused: other ops are quantized."""
    warnings = []
    was, now = data.get("target"), target_entry(target)
    if (was or {}).get("fingerprint") != (now or {}).get("fingerprint"):   # the DPU, whatever board named it
        raise QuantInfoError(f"{path}: calibrated for {(was or {}).get('name', 'no target')} but quantizing for "
                             f"{now['name'] if now else 'no target'}; pass the same target= (or NNDCT_TARGET) "
                             "to both runs")
    if data.get("graph_md5") and data["graph_md5"] != g.md5():
        warnings.append(f"{path}: the model changed since calibration (graph_md5 differs); "
                        "re-calibrate if the results look wrong")
    params = data.get("param", {})
    outputs = {**data.get("output", {}), **data.get("input", {})}
    for n in g.nodes:
        for k in n.params:
            key = param_key(g, n, k)
            if n.quant != "own" or n.kind not in ("conv2d", "transposed-conv2d", "inner-product"):
                continue
            if key not in params:
                raise QuantInfoError(f"{path}: no entry for parameter '{key}'; the file belongs to "
                                     "another model or calibration did not finish")
            bw, fp = _entry(path, key, params[key])
            table.param_bits[f"{n.name}.{k}"], table.param_pos[f"{n.name}.{k}"] = bw, fp
    calibrated, bits = {}, {}
    for name in table.owners():
        key = node_key(g, name)
        if key not in outputs:
            raise QuantInfoError(f"{path}: no entry for tensor '{key}'; the file belongs to another "
                                 "model or calibration did not finish")
        bits[name], calibrated[name] = _entry(path, key, outputs[key])
    table.settle_groups(calibrated, bits)
    return warnings
