"""The quantization result as vaiq's test mode sees it: capture the float model, load
``quant_info.json`` into a test-mode quantizer, and refuse a result made for another model.

Rule: the quantization result belongs to the model when every entry test mode needs is present and
the ``graph_md5`` recorded at calibration equals the captured graph's (unless the graph holds a
reshape to a fixed batch size, whose attributes, and so the digest, depend on the batch of the
capture); anything else is a WegoError naming the folder and what to do.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from vaiq import CaptureError, QuantInfoError, VaiqError, torch_quantizer

from .errors import WegoError


def quant_info_path(folder) -> Path:
    """``<folder>/quant_info.json``, checked to exist (a clear error for a missing or empty folder)."""
    p = Path(folder)
    if not p.exists():
        raise WegoError(f"{p}: quantization result folder does not exist; run the quantizer "
                        "(torch_quantizer('calib', ...) then export_quant_config()) first")
    if not p.is_dir():
        raise WegoError(f"{p}: is not a folder; give the quantization result folder (holding quant_info.json)")
    qi = p / "quant_info.json"
    if not qi.exists():
        what = "is empty" if not any(p.iterdir()) else "holds no quant_info.json"
        raise WegoError(f"{p}: {what}; run the quantizer's calibration and export_quant_config() into it")
    return qi


def graph_name_of(folder) -> str:
    """The graph name the quantization result was made for (the prefix of its keys)."""
    qi = quant_info_path(folder)
    try:
        data = json.loads(qi.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WegoError(f"{qi}: not valid JSON ({e})") from None
    for section in ("input", "output", "param"):
        for key in data.get(section, {}) if isinstance(data, dict) else ():
            if "::" in key:
                return key.split("::", 1)[0]
    raise WegoError(f"{qi}: holds no quantized tensors; re-run calibration")


def test_quantizer(model: torch.nn.Module, args: tuple, folder) -> torch_quantizer:
    """vaiq's test-mode quantizer of ``model`` on example ``args`` with the result in ``folder``."""
    qi = quant_info_path(folder)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = torch_quantizer("test", model, args, output_dir=str(folder), dynamo=True)
    except CaptureError as e:
        raise WegoError(f"the float model does not export: {e}") from None
    except QuantInfoError as e:
        raise WegoError(f"the quantization result does not belong to this model: {e}") from None
    except VaiqError as e:
        raise WegoError(str(e)) from None
    recorded = json.loads(qi.read_text()).get("graph_md5")
    if recorded and recorded != q.graph.md5() and not _batch_in_attrs(q.graph, args[0].shape[0]):
        raise WegoError(f"{qi} was made for another model (its graph_md5 {recorded} differs from this "
                        f"model's {q.graph.md5()}); quantize this model or give its own result folder")
    return q


def _batch_in_attrs(g, batch: int) -> bool:
    """Whether a reshape of the captured graph names the capture's batch size (as test mode's
    batch rule for reshapes sees it), making the graph digest depend on that batch."""
    return any(n.kind == "reshape" and n.attrs.get("shape") and n.attrs["shape"][0] == batch for n in g.nodes)
