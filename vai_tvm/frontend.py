"""``vai_tvm.from_onnx``: TVM's ONNX importer with the flow's error contract.

Rule: a model is a path, bytes or an ``onnx.ModelProto``; when it cannot be read, or TVM's Relax importer
(``tvm.relax.frontend.onnx.from_onnx``) refuses it, the result is one ``VaiTvmError`` line saying that TVM
cannot import it, why, and that the ONNX path through vaiq (``vaiq quantize --model model.onnx``) may still
work. The Relax module it returns is what ``partition_for_vitis_ai`` takes.
"""
from __future__ import annotations

from pathlib import Path

import onnx

from .errors import VaiTvmError
from .tvm_check import require_tvm


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[-1] if lines else type(e).__name__


def _load(model) -> tuple[onnx.ModelProto, str]:
    if isinstance(model, onnx.ModelProto):
        return model, "the model"
    try:
        if isinstance(model, (bytes, bytearray)):
            return onnx.load_from_string(bytes(model)), "the model"
        p = Path(model)
        if not p.is_file():
            raise VaiTvmError(f"{p}: no such ONNX file")
        return onnx.load(str(p)), str(p)
    except VaiTvmError:
        raise
    except Exception as e:
        raise VaiTvmError(f"{model if not isinstance(model, (bytes, bytearray)) else 'the bytes'} is not an ONNX "
                          f"model ({_first_line(e)})") from None


def from_onnx(model, shape_dict: dict | None = None, **kwargs):
    """The Relax module of an ONNX model (TVM's importer), or a ``VaiTvmError`` saying why TVM cannot import it."""
    require_tvm()
    from tvm.relax.frontend.onnx import from_onnx as tvm_from_onnx
    proto, what = _load(model)
    try:
        onnx.checker.check_model(proto)
        return tvm_from_onnx(proto, shape_dict=shape_dict, **kwargs)
    except Exception as e:
        raise VaiTvmError(f"TVM cannot import {what}: {_first_line(e)}; the ONNX path through vaiq may still "
                          "work: vaiq quantize --model model.onnx") from None
