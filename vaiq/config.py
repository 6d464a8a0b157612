"""Quant config files (``quant_config_file``): pytorch_nndct's JSON shape, the subset DPUs support.

Rule: every key is known or the file is rejected naming the key; values that a DPU target cannot
run (asymmetric, per-channel, unsigned, narrow range, float scales) are rejected with the reason.
Supported: ``overall_quantize_config`` {bit_width 4-16, method diffs | maxmin | mse | percentile,
percentage, round_mode, symmetry, per_channel, signed, narrow_range, scale_type,
calib_statistic_method modal | max | mean | median (diffs and percentile only)},
``tensor_quantize_config`` {weights | bias | activation | input: bit_width, method, round_mode},
``layer_quantize_config`` [{layer_type | layer_name, quantizable, bit_width}], and the top-level
switches ``convert_silu_to_hswish`` (nndct's: SiLU ``x * sigmoid(x)`` becomes hard-swish, which the
DPU runs) and ``convert_sigmoid_to_hsigmoid`` (a vaiq addition: sigmoid becomes hard-sigmoid, e.g. in
squeeze-excite gates), both false by default; ``include_bias_corr`` (bias correction, vaiq.bias_corr)
and ``include_cle`` (cross-layer equalization, vaiq.cle), both true by default as in pytorch_nndct.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .calib import METHODS, STATISTICS
from .errors import ConfigError

ROUND_MODES = ("DPU_ROUND", "STD_ROUND", "PY3_ROUND")
_OVERALL = {"bit_width", "method", "round_mode", "symmetry", "per_channel", "signed", "narrow_range",
            "scale_type", "calib_statistic_method", "percentage"}
_TENSOR = {"bit_width", "method", "round_mode"}
_LAYER = {"layer_type", "layer_name", "quantizable", "bit_width"}
_SWITCHES = {"convert_silu_to_hswish": "silu_to_hswish", "convert_sigmoid_to_hsigmoid": "sigmoid_to_hsigmoid",
             "include_bias_corr": "include_bias_corr", "include_cle": "include_cle"}
_REQUIRED_VALUE = {"symmetry": True, "per_channel": False, "signed": True, "narrow_range": False,
                   "scale_type": "poweroftwo"}


@dataclass
class QuantConfig:
    bits_w: int = 8
    bits_b: int = 8
    bits_a: int = 8
    bits_in: int = 8
    method: str = "diffs"
    round_a: str = "DPU_ROUND"
    layers: list[dict] = field(default_factory=list)
    percentage: float = 99.99           # the percentile of method "percentile"
    calib_statistic_method: str = "modal"
    include_bias_corr: bool = True
    include_cle: bool = True
    silu_to_hswish: bool = False        # convert_silu_to_hswish (pytorch_nndct's key)
    sigmoid_to_hsigmoid: bool = False   # convert_sigmoid_to_hsigmoid (a vaiq addition)

    def layer_rules(self, node) -> dict:
        """The merged layer rules that match a node (by scope/name or by module/op type)."""
        out = {}
        for rule in self.layers:
            name, kind = rule.get("layer_name"), rule.get("layer_type")
            if (name and name in (node.name, node.scope)) or \
                    (kind and kind.split(".")[-1].lower() in (node.kind, node.module_type.lower())):
                out.update({k: v for k, v in rule.items() if k not in ("layer_name", "layer_type")})
        return out


def _check_keys(d, allowed, where, path):
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: '{where}' must be an object")
    bad = sorted(set(d) - allowed)
    if bad:
        raise ConfigError(f"{path}: unknown key(s) {bad} in '{where}'; allowed: {sorted(allowed)}")


def _bits(v, where, path):
    if not isinstance(v, int) or isinstance(v, bool) or not 4 <= v <= 16:
        raise ConfigError(f"{path}: {where}.bit_width must be an integer from 4 to 16, got {v!r}")
    return v


def _method(v, where, path):
    if v not in METHODS:
        raise ConfigError(f"{path}: {where}.method {v!r} is not supported; use one of {list(METHODS)}")
    return v


def load_config(path, bits_w: int | None = None, bits_a: int | None = None) -> QuantConfig:
    """Read and validate a config file (``path`` None gives the defaults), then apply explicit
    bit widths passed to torch_quantizer."""
    cfg = QuantConfig()
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"{p}: no such quant config file")
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{p}: not valid JSON ({e})") from None
        _check_keys(data, {"overall_quantize_config", "tensor_quantize_config", "layer_quantize_config",
                           *_SWITCHES}, "top level", p)
        for key, attr in _SWITCHES.items():
            if key in data:
                if not isinstance(data[key], bool):
                    raise ConfigError(f"{p}: {key} must be true or false, got {data[key]!r}")
                setattr(cfg, attr, data[key])
        ov = data.get("overall_quantize_config", {})
        _check_keys(ov, _OVERALL, "overall_quantize_config", p)
        for k, need in _REQUIRED_VALUE.items():
            if k in ov and ov[k] != need:
                raise ConfigError(f"{p}: overall_quantize_config.{k} = {ov[k]!r} is not supported by DPU "
                                  f"targets (they need {need!r})")
        if "bit_width" in ov:
            b = _bits(ov["bit_width"], "overall_quantize_config", p)
            cfg.bits_w = cfg.bits_b = cfg.bits_a = cfg.bits_in = b
        if "method" in ov:
            cfg.method = _method(ov["method"], "overall_quantize_config", p)
        if "percentage" in ov:
            v = ov["percentage"]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 < v <= 100.0:
                raise ConfigError(f"{p}: overall_quantize_config.percentage must be a number in (0, 100], "
                                  f"got {v!r}")
            cfg.percentage = float(v)
        if "calib_statistic_method" in ov:
            if ov["calib_statistic_method"] not in STATISTICS:
                raise ConfigError(f"{p}: overall_quantize_config.calib_statistic_method "
                                  f"{ov['calib_statistic_method']!r} is not one of {list(STATISTICS)}")
            cfg.calib_statistic_method = ov["calib_statistic_method"]
        if "round_mode" in ov:
            if ov["round_mode"] not in ROUND_MODES:
                raise ConfigError(f"{p}: round_mode must be one of {list(ROUND_MODES)}")
            cfg.round_a = ov["round_mode"]
        tq = data.get("tensor_quantize_config", {})
        _check_keys(tq, {"weights", "bias", "activation", "input"}, "tensor_quantize_config", p)
        for kind, attr in (("weights", "bits_w"), ("bias", "bits_b"), ("activation", "bits_a"), ("input", "bits_in")):
            if kind in tq:
                _check_keys(tq[kind], _TENSOR, f"tensor_quantize_config.{kind}", p)
                if "bit_width" in tq[kind]:
                    setattr(cfg, attr, _bits(tq[kind]["bit_width"], f"tensor_quantize_config.{kind}", p))
                if "method" in tq[kind]:
                    cfg.method = _method(tq[kind]["method"], f"tensor_quantize_config.{kind}", p)
                if "round_mode" in tq[kind] and tq[kind]["round_mode"] not in ROUND_MODES:
                    raise ConfigError(f"{p}: round_mode must be one of {list(ROUND_MODES)}")
                if kind == "activation" and "round_mode" in tq[kind]:
                    cfg.round_a = tq[kind]["round_mode"]
        layers = data.get("layer_quantize_config", [])
        if not isinstance(layers, list):
            raise ConfigError(f"{p}: layer_quantize_config must be a list")
        for i, rule in enumerate(layers):
            _check_keys(rule, _LAYER, f"layer_quantize_config[{i}]", p)
            if not ("layer_type" in rule or "layer_name" in rule):
                raise ConfigError(f"{p}: layer_quantize_config[{i}] needs layer_type or layer_name")
            if "bit_width" in rule:
                _bits(rule["bit_width"], f"layer_quantize_config[{i}]", p)
            if "quantizable" in rule and not isinstance(rule["quantizable"], bool):
                raise ConfigError(f"{p}: layer_quantize_config[{i}].quantizable must be true or false")
        cfg.layers = layers
        if cfg.calib_statistic_method != "modal" and cfg.method not in ("diffs", "percentile"):
            raise ConfigError(f"{p}: calib_statistic_method {cfg.calib_statistic_method!r} combines per-batch "
                              f"positions of method diffs or percentile; method {cfg.method!r} aggregates "
                              "over all batches itself (leave calib_statistic_method at 'modal')")
    if bits_w is not None:
        cfg.bits_w = cfg.bits_b = _bits(bits_w, "bitwidth_w", "torch_quantizer")
    if bits_a is not None:
        cfg.bits_a = cfg.bits_in = _bits(bits_a, "bitwidth_a", "torch_quantizer")
    return cfg
