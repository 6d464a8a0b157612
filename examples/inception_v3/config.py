"""config.yaml of the example: flat ``key: value`` lines (numbers, words, ``[a, b, c]`` lists, ``#``
comments), which is all the example's configuration needs."""
from __future__ import annotations

import json
from pathlib import Path

REQUIRED = ("model", "checkpoint_names", "num_classes", "input_shape", "resize", "crop", "mean", "std",
            "batch_size")


class ConfigError(ValueError):
    pass


def _value(text: str):
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip("'\"")


def load_config(path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    cfg = {}
    for n, line in enumerate(p.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        key, sep, val = line.partition(":")
        if not sep or not key.strip() or line[0].isspace():
            raise ConfigError(f"{p}:{n}: expected 'key: value', got {line.strip()!r}")
        cfg[key.strip()] = _value(val)
    missing = [k for k in REQUIRED if k not in cfg]
    if missing:
        raise ConfigError(f"{p}: missing key(s) {missing}")
    if not (isinstance(cfg["input_shape"], list) and len(cfg["input_shape"]) == 3):
        raise ConfigError(f"{p}: input_shape must be [C, H, W], got {cfg['input_shape']!r}")
    if cfg["checkpoint_names"] not in ("torchvision", "native"):
        raise ConfigError(f"{p}: checkpoint_names must be torchvision or native")
    return cfg
