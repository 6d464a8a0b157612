"""Model loading for the ``vaiq`` command line.

Rules:
- ``--model zoo:NAME`` builds a model of :mod:`vaiq.zoo` (seed 0); its input shape is the zoo's
  unless ``--input-shape`` says otherwise;
- ``--model FILE.py:Name`` imports FILE.py (module name derived from the path, the file's folder on
  ``sys.path`` while it is imported); ``Name`` is an ``nn.Module`` class (built with no arguments),
  an ``nn.Module`` instance, or a factory function returning one;
- ``--weights`` is read with ``torch.load(..., weights_only=True)``; a checkpoint dict holding the
  weights under ``state_dict`` or ``model`` is unwrapped, a ``module.`` prefix on every key
  (DataParallel) is removed, and the keys must match the model exactly;
- ``--model FILE.onnx`` reads a float ONNX model (vaiq.onnx_frontend); ``--input-shape`` fixes its
  dynamic dimensions, as ``NAME:1,3,224,224`` or, for its only input, ``1,3,224,224``; the command line
  quantizes ONNX models with one input (the Python API takes several); ``--weights`` does not apply;
- the model's forward must accept a tensor of the input shape, else the shape is reported.
Every problem raises :class:`VaiqError` with one line.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import VaiqError


@dataclass
class LoadedModel:
    model: nn.Module
    spec: str                      # what the user passed to --model
    input_shape: tuple[int, ...]
    float_output: object = None    # the float model's output on zeros of input_shape


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1,3,224,224"`` (or ``1x3x224x224``) -> ``(1, 3, 224, 224)``; every dim a positive integer."""
    compact = re.sub(r"\s+", "", text)
    dims = tuple(int(p) for p in re.split(r"[,x]", compact)) if re.fullmatch(r"\d+(?:[,x]\d+)*", compact) else ()
    if not dims or any(d <= 0 for d in dims):
        raise VaiqError(f"--input-shape {text!r} is not a list of positive integers such as 1,3,224,224")
    return dims


def shape_text(shape) -> str:
    return "x".join(str(d) for d in shape)


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[0][:300]}" if lines else type(e).__name__


def _zoo(name: str, input_shape):
    from .zoo import MODELS, get_model

    if name not in MODELS:
        raise VaiqError(f"unknown zoo model {name!r}; known: {', '.join(MODELS)}")
    shape = input_shape or MODELS[name].input_shape
    return get_model(name, input_shape=shape), shape


def _module_name(path: Path) -> str:
    stem = re.sub(r"\W", "_", path.stem) or "model"
    return f"_vaiq_model_{stem}_{hashlib.md5(str(path).encode()).hexdigest()[:8]}"


def import_file(path: Path):
    """Import a Python file as a module of its own."""
    if not path.is_file():
        raise VaiqError(f"{path}: no such model file")
    if path.suffix != ".py":
        raise VaiqError(f"{path}: a model file must be a .py file")
    name = _module_name(path.resolve())
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.modules[name] = module
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except SystemExit as e:
        sys.modules.pop(name, None)
        raise VaiqError(f"{path}: the file calls sys.exit({e.code!r}) while it is imported; a model file must only "
                        "define the model (put script code under `if __name__ == \"__main__\":`)") from None
    except Exception as e:
        sys.modules.pop(name, None)
        raise VaiqError(f"{path}: importing the file failed: {_first_line(e)}") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def _candidates(module) -> list[str]:
    out = []
    for k, v in vars(module).items():
        if k.startswith("_"):
            continue
        defined_here = getattr(v, "__module__", None) == module.__name__
        if isinstance(v, nn.Module) or (inspect.isclass(v) and issubclass(v, nn.Module) and defined_here) \
                or (inspect.isfunction(v) and defined_here):
            out.append(k)
    return out


def _build(obj, label: str, path: Path) -> nn.Module:
    if isinstance(obj, nn.Module):
        return obj
    if inspect.isclass(obj) and not issubclass(obj, nn.Module):
        raise VaiqError(f"{path}: {label} is a class but not a torch.nn.Module")
    if not callable(obj):
        raise VaiqError(f"{path}: {label} is a value of type {type(obj).__name__}, not an nn.Module class, "
                        "instance or factory function")
    try:
        model = obj()
    except TypeError as e:
        raise VaiqError(f"{path}: {label}() cannot be called without arguments ({e}); "
                        "add a factory function that builds the model") from None
    except Exception as e:
        raise VaiqError(f"{path}: building {label}() failed: {_first_line(e)}") from None
    if not isinstance(model, nn.Module):
        raise VaiqError(f"{path}: {label}() returned a value of type {type(model).__name__}, not a torch.nn.Module")
    return model


def _from_file(spec: str) -> nn.Module:
    file, sep, name = spec.rpartition(":")
    if not sep or not file or not name.isidentifier():
        raise VaiqError(f"--model {spec!r} needs the class or factory to use: FILE.py:Name (e.g. model.py:Net), "
                        "or zoo:NAME")
    path = Path(file).expanduser()
    module = import_file(path)
    if not hasattr(module, name):
        there = _candidates(module)
        listing = f"it defines: {', '.join(there)}" if there else "it defines no nn.Module class or function"
        raise VaiqError(f"{path}: no {name!r} in the file; {listing}")
    return _build(getattr(module, name), name, path)


def _unwrap(sd, path: Path) -> dict:
    if isinstance(sd, nn.Module):
        sd = sd.state_dict()
    if isinstance(sd, dict):
        for key in ("state_dict", "model"):
            if isinstance(sd.get(key), dict):
                sd = sd[key]
                break
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise VaiqError(f"{path}: not a state dict (a mapping of parameter names to tensors)")
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def _preview(keys) -> str:
    keys = sorted(keys)
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return ", ".join(keys[:3]) + more


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a state dict file into ``model`` (strict)."""
    path = Path(path)
    if not path.is_file():
        raise VaiqError(f"{path}: no such weights file")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise VaiqError(f"{path}: cannot load the weights with torch.load(weights_only=True): "
                        f"{_first_line(e)}") from None
    sd = _unwrap(sd, path)
    own = model.state_dict()
    missing, unexpected = set(own) - set(sd), set(sd) - set(own)
    name = type(model).__name__
    if missing or unexpected:
        parts = ([f"missing {len(missing)} key(s): {_preview(missing)}"] if missing else []) + \
                ([f"unexpected {len(unexpected)} key(s): {_preview(unexpected)}"] if unexpected else [])
        raise VaiqError(f"{path}: does not match {name}: {'; '.join(parts)}")
    for k, v in sd.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise VaiqError(f"{path}: does not match {name}: '{k}' has shape {tuple(v.shape)}, "
                            f"the model's is {tuple(own[k].shape)}")
    try:
        model.load_state_dict(sd)
    except RuntimeError as e:
        raise VaiqError(f"{path}: does not match {name}: {_first_line(e)}") from None


def check_forward(model: nn.Module, shape: tuple[int, ...]):
    """Run the float model on zeros of ``shape``; a failure is reported with the shape."""
    try:
        with torch.no_grad():
            return model(torch.zeros(shape))
    except Exception as e:
        raise VaiqError(f"the model's forward fails on an input of shape {shape_text(shape)} "
                        f"({_first_line(e)}); check --input-shape") from None


def is_onnx(spec: str) -> bool:
    return spec.strip().lower().endswith(".onnx")


def load_onnx_model(spec: str, weights: Path | None = None, input_shape: str | None = None) -> LoadedModel:
    """``--model FILE.onnx`` with ``--input-shape [NAME:]DIMS`` (module rules)."""
    import onnx

    from .onnx_frontend.module import build_module, identifier
    from .onnx_frontend.reader import graph_inputs, read_model

    spec = spec.strip()
    if weights is not None:
        raise VaiqError(f"--weights does not apply to {spec}: an ONNX model holds its weights; drop --weights")
    proto, label = read_model(Path(spec))
    shapes = None
    if input_shape:
        name, sep, dims = input_shape.strip().rpartition(":")
        if not sep:
            names = [vi.name for vi in graph_inputs(proto, None, label, check_shapes=False)]
            if len(names) != 1:
                raise VaiqError(f"{label}: --input-shape {input_shape!r} must name the input it sets "
                                f"(NAME:1,3,224,224); the model's inputs: {', '.join(names)}")
            name = names[0]
        shapes = {name: parse_shape(dims)}
    inputs = graph_inputs(proto, shapes, label)
    if len(inputs) != 1:
        raise VaiqError(f"{label}: the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                        "the vaiq command line quantizes one-input models; use the Python API "
                        "(vaiq.onnx_frontend.load_onnx and torch_quantizer)")
    model = build_module(proto, inputs, label, identifier(Path(spec).stem, "OnnxModel"))
    shape = tuple(model.input_shapes[model.input_names[0]])
    return LoadedModel(model, spec, shape, check_forward(model, shape))


def load_model(spec: str, weights: Path | None = None, input_shape: tuple[int, ...] | None = None) -> LoadedModel:
    """Resolve ``--model``/``--weights``/``--input-shape`` into an eval-mode model that runs on the shape."""
    spec = spec.strip()
    if spec.startswith("zoo:"):
        model, input_shape = _zoo(spec[4:], input_shape)
    else:
        model = _from_file(spec)
        if input_shape is None:
            raise VaiqError(f"--model {spec} needs --input-shape (e.g. --input-shape 1,3,224,224)")
    if weights is not None:
        load_weights(model, weights)
    model = model.to("cpu").eval()
    out = check_forward(model, tuple(input_shape))
    return LoadedModel(model, spec, tuple(input_shape), out)
