"""Quant config files (``quant_config_file``): pytorch_nndct's JSON shape, what a DPU can run.

Rules (the file is documented in docs/vaiq.md, "Quant config file"):
- every key is one of pytorch_nndct's (plus ``convert_sigmoid_to_hsigmoid`` and the layer shorthand
  ``quantizable`` / ``bit_width``, vaiq additions) or the file is rejected naming the key;
- a value a DPU target cannot run is rejected naming the key and the file: asymmetric, per-channel,
  unsigned, narrow-range, float scales, a target device other than ``DPU``, activations rounded other
  than half up, weights and biases other than ``std_round``, input rounding other than ``std_round``
  or ``half_up`` (the host quantizes the input, both modes reach vairun through the xmodel);
- ``overall_quantize_config`` applies to all four tensor kinds (input, weights, bias, activation),
  ``tensor_quantize_config`` overrides one kind; a layer rule (by ``layer_type`` or ``layer_name``)
  sets that layer's bit widths or keeps it float (``quantizable_data_type: []``);
- ``keep_first_last_layer_accuracy`` / ``keep_add_layer_accuracy`` keep the first and last conv /
  dense layers (resp. every add) float, run on the CPU; ``convert_relu6_to_relu`` rewrites ReLU6 as
  ReLU (the float model changes too);
- ``method`` is one of diffs (default), maxmin, mse, percentile (with ``percentage``);
  ``calib_statistic_method`` (modal, max, mean, median) combines per-batch positions, so only diffs and
  percentile take a value other than modal; ``include_bias_corr`` (vaiq.bias_corr) and ``include_cle``
  (vaiq.cle) are on by default, as in pytorch_nndct.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .calib import METHODS, STATISTICS
from .errors import ConfigError

TENSORS = ("input", "weights", "bias", "activation")
PARAM_KEYS = ("bit_width", "method", "round_mode", "symmetry", "per_channel", "signed", "narrow_range",
              "scale_type", "calib_statistic_method", "percentage")
SWITCHES = {"convert_relu6_to_relu": "relu6_to_relu", "convert_silu_to_hswish": "silu_to_hswish",
            "convert_sigmoid_to_hsigmoid": "sigmoid_to_hsigmoid", "include_cle": "include_cle",
            "include_bias_corr": "include_bias_corr", "keep_first_last_layer_accuracy": "keep_first_last",
            "keep_add_layer_accuracy": "keep_add"}
TOP_KEYS = (*SWITCHES, "target_device", "quantizable_data_type", "overall_quantize_config",
            "tensor_quantize_config", "layer_quantize_config")
LAYER_KEYS = ("layer_type", "layer_name", "quantizable_data_type", "overall_quantize_config",
              "tensor_quantize_config", "quantizable", "bit_width")
#: pytorch_nndct's round_mode names (and the xir names, accepted as they are) -> xir rounding mode
ROUND_NAMES = {"half_up": "DPU_ROUND", "std_round": "STD_ROUND", "half_even": "PY3_ROUND",
               "DPU_ROUND": "DPU_ROUND", "STD_ROUND": "STD_ROUND", "PY3_ROUND": "PY3_ROUND"}
ROUND_MODES = tuple(sorted(set(ROUND_NAMES.values())))
#: the rounding each tensor kind may use on a DPU target (first: the default)
DPU_ROUNDING = {"activation": ("DPU_ROUND",), "weights": ("STD_ROUND",), "bias": ("STD_ROUND",),
                "input": ("DPU_ROUND", "STD_ROUND")}
#: parameter values every DPU target requires
DPU_REQUIRED = {"symmetry": True, "per_channel": False, "signed": True, "narrow_range": False,
                "scale_type": "poweroftwo"}
_BITS_KEY = {"activation": "a", "weights": "w", "bias": "b"}


@dataclass
class QuantConfig:
    bits_w: int = 8
    bits_b: int = 8
    bits_a: int = 8
    bits_in: int = 8
    method: str = "diffs"
    round_a: str = "DPU_ROUND"          # activations (the DPU rounds half up)
    round_in: str = "DPU_ROUND"         # the graph inputs (quantized by the host)
    percentage: float = 99.99           # pytorch_nndct's percentile method parameter
    calib_statistic_method: str = "modal"
    layers: list[dict] = field(default_factory=list)
    relu6_to_relu: bool = False         # convert_relu6_to_relu
    silu_to_hswish: bool = False        # convert_silu_to_hswish (pytorch_nndct's key)
    sigmoid_to_hsigmoid: bool = False   # convert_sigmoid_to_hsigmoid (a vaiq addition)
    include_cle: bool = True            # cross-layer equalization (vaiq.cle), on as in pytorch_nndct
    include_bias_corr: bool = True      # bias correction (vaiq.bias_corr), on as in pytorch_nndct
    keep_first_last: bool = False       # keep_first_last_layer_accuracy
    keep_add: bool = False              # keep_add_layer_accuracy

    def layer_rules(self, node) -> dict:
        """The merged layer rules that match a node (by scope/name or by module/op type): keys
        ``quantizable`` and the bit widths ``a`` / ``w`` / ``b``."""
        out = {}
        for rule in self.layers:
            name, kind = rule.get("layer_name"), rule.get("layer_type")
            if (name and name in (node.name, node.scope)) or \
                    (kind and kind.split(".")[-1].lower() in (node.kind, node.module_type.lower())):
                out.update({k: v for k, v in rule.items() if k not in ("layer_name", "layer_type")})
        return out

    def round_for(self, node) -> str:
        """The rounding of a node's output fix: the input's for graph inputs, else the activations'."""
        return self.round_in if node.kind == "input" else self.round_a

    def kept_float(self, graph) -> dict[str, str]:
        """Nodes the keep_* switches keep float, with the reason: the first and last conv / dense
        layer in graph order, every add."""
        out = {}
        if self.keep_first_last:
            layers = [n for n in graph.nodes if n.kind in ("conv2d", "transposed-conv2d", "inner-product")]
            for n in layers[:1] + layers[-1:]:
                if n.kind == "transposed-conv2d":
                    raise ConfigError(f"keep_first_last_layer_accuracy: layer '{n.name}' is a transposed "
                                      "convolution, which vaiq cannot run in float; set the key to false")
                out[n.name] = "kept float by keep_first_last_layer_accuracy"
        if self.keep_add:
            for n in graph.nodes:
                if n.kind == "add" and "scalar" not in n.attrs:
                    out[n.name] = "kept float by keep_add_layer_accuracy"
        return out


class _Reader:
    """Validates one file; every error names the file and the key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, msg: str):
        raise ConfigError(f"{self.path}: {msg}")

    def obj(self, d, where: str, allowed) -> dict:
        if not isinstance(d, dict):
            self.fail(f"'{where}' must be an object")
        bad = sorted(set(d) - set(allowed))
        if bad:
            self.fail(f"unknown key(s) {bad} in '{where}'; allowed: {sorted(allowed)}")
        return d

    def flag(self, v, where: str) -> bool:
        if not isinstance(v, bool):
            self.fail(f"{where} must be true or false, got {v!r}")
        return v

    def bits(self, v, where: str) -> int:
        if not isinstance(v, int) or isinstance(v, bool) or not 4 <= v <= 16:
            self.fail(f"{where}.bit_width must be an integer from 4 to 16, got {v!r}")
        return v

    def data_types(self, v, where: str) -> list:
        if not isinstance(v, list) or any(t not in TENSORS for t in v):
            self.fail(f"{where} must be a list of {list(TENSORS)}, got {v!r}")
        return v

    def params(self, d, where: str) -> dict:
        """One parameter object: DPU requirements checked, values normalized (round_mode -> xir name)."""
        self.obj(d, where, PARAM_KEYS)
        out = {}
        for k, v in d.items():
            if k == "bit_width":
                out[k] = self.bits(v, where)
            elif k == "method":
                if v not in METHODS:
                    self.fail(f"{where}.method {v!r} is not supported; use one of {list(METHODS)}")
                out[k] = v
            elif k == "round_mode":
                if v not in ROUND_NAMES:
                    self.fail(f"{where}.round_mode {v!r} is not supported; use one of "
                              f"{[n for n in ROUND_NAMES if n.islower()]}")
                out[k] = ROUND_NAMES[v]
            elif k == "calib_statistic_method":
                if v not in STATISTICS:
                    self.fail(f"{where}.calib_statistic_method {v!r} is not one of {list(STATISTICS)}")
                out[k] = v
            elif k == "percentage":
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 < v <= 100.0:
                    self.fail(f"{where}.percentage must be a number in (0, 100], got {v!r}")
                out[k] = float(v)
            else:
                if v != DPU_REQUIRED[k]:
                    self.fail(f"{where}.{k} = {v!r} is not supported by DPU targets (they need "
                              f"{json.dumps(DPU_REQUIRED[k])})")
                out[k] = v
        return out

    def tensor_params(self, data: dict, where: str, kinds=TENSORS) -> dict[str, dict]:
        """Per tensor kind: {parameter: (value, the key that set it)}, overall first, then per tensor."""
        out: dict[str, dict] = {t: {} for t in kinds}
        if "overall_quantize_config" in data:
            ov = self.params(data["overall_quantize_config"], f"{where}overall_quantize_config")
            for t in kinds:
                out[t].update({k: (v, f"{where}overall_quantize_config.{k}") for k, v in ov.items()})
        if "tensor_quantize_config" in data:
            tq = self.obj(data["tensor_quantize_config"], f"{where}tensor_quantize_config", kinds)
            for t, d in tq.items():
                p = self.params(d, f"{where}tensor_quantize_config.{t}")
                out[t].update({k: (v, f"{where}tensor_quantize_config.{t}.{k}") for k, v in p.items()})
        for t, p in out.items():
            if "round_mode" in p:
                mode, key = p["round_mode"]
                if mode not in DPU_ROUNDING[t]:
                    allowed = [n for n in ROUND_NAMES if n.islower() and ROUND_NAMES[n] in DPU_ROUNDING[t]]
                    self.fail(f"{key} = {mode!r} sets the rounding of {t}, which DPU targets round with "
                              f"{' or '.join(repr(a) for a in allowed)}"
                              + ("; set round_mode per tensor in tensor_quantize_config"
                                 if "overall" in key else ""))
        return out

    def layer(self, rule, i: int, cfg: QuantConfig) -> dict:
        where = f"layer_quantize_config[{i}]"
        self.obj(rule, where, LAYER_KEYS)
        out = {k: rule[k] for k in ("layer_type", "layer_name") if rule.get(k) is not None}
        for k, v in out.items():
            if not isinstance(v, str) or not v:
                self.fail(f"{where}.{k} must be a non-empty string or null, got {v!r}")
        if not out:
            self.fail(f"{where} needs layer_type or layer_name")
        if "quantizable" in rule:
            out["quantizable"] = self.flag(rule["quantizable"], f"{where}.quantizable")
        if "quantizable_data_type" in rule:
            types = set(self.data_types(rule["quantizable_data_type"], f"{where}.quantizable_data_type"))
            if types and not {"weights", "bias", "activation"} <= types:
                self.fail(f"{where}.quantizable_data_type = {rule['quantizable_data_type']!r}: a DPU layer "
                          "quantizes its weights, bias and activation together; list all three, or none ([]) "
                          "to keep the layer float")
            if not types:
                out["quantizable"] = False
        if "bit_width" in rule:
            out["a"] = out["w"] = out["b"] = self.bits(rule["bit_width"], where)
        params = self.tensor_params(rule, f"{where}.", ("weights", "bias", "activation"))
        for t, p in params.items():
            if "bit_width" in p:
                out[_BITS_KEY[t]] = p["bit_width"][0]
            for k in ("method", "calib_statistic_method", "percentage"):
                if k in p and p[k][0] != getattr(cfg, k):
                    self.fail(f"{p[k][1]} = {p[k][0]!r} differs from the model's {getattr(cfg, k)!r}; "
                              f"vaiq takes {k} for the whole model (overall_quantize_config)")
        return out


def _read(p: Path, cfg: QuantConfig) -> None:
    r = _Reader(p)
    if not p.exists():
        raise ConfigError(f"{p}: no such quant config file")
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not valid JSON ({e})") from None
    r.obj(data, "top level", TOP_KEYS)
    for key, attr in SWITCHES.items():
        if key in data:
            setattr(cfg, attr, r.flag(data[key], key))
    if data.get("target_device", "DPU") != "DPU":
        r.fail(f"target_device = {data['target_device']!r}: vaiq quantizes for DPU targets only; use \"DPU\"")
    if "quantizable_data_type" in data:
        types = r.data_types(data["quantizable_data_type"], "quantizable_data_type")
        if set(types) != set(TENSORS):
            r.fail(f"quantizable_data_type = {types!r}: a DPU runs input, weights, bias and activation all "
                   f"quantized; list all four (keep single layers float with layer_quantize_config)")
    params = r.tensor_params(data, "")
    for t, attr in (("input", "bits_in"), ("weights", "bits_w"), ("bias", "bits_b"), ("activation", "bits_a")):
        if "bit_width" in params[t]:
            setattr(cfg, attr, params[t]["bit_width"][0])
    cfg.round_a = params["activation"].get("round_mode", (cfg.round_a,))[0]
    cfg.round_in = params["input"].get("round_mode", (cfg.round_in,))[0]
    for k in ("method", "calib_statistic_method", "percentage"):
        seen = {t: p[k] for t, p in params.items() if k in p}
        values = {v for v, _ in seen.values()}
        if len(values) > 1:
            keys = ", ".join(f"{key} = {v!r}" for v, key in seen.values())
            r.fail(f"{keys}: vaiq uses one {k} for all tensors; give them the same value")
        if values:
            setattr(cfg, k, values.pop())
    if cfg.calib_statistic_method != "modal" and cfg.method not in ("diffs", "percentile"):
        r.fail(f"calib_statistic_method {cfg.calib_statistic_method!r} combines per-batch positions, which method "
               f"{cfg.method!r} does not make (it decides over all batches itself); leave it at 'modal'")
    layers = data.get("layer_quantize_config", [])
    if not isinstance(layers, list):
        r.fail("layer_quantize_config must be a list")
    cfg.layers = [r.layer(rule, i, cfg) for i, rule in enumerate(layers)]


def load_config(path, bits_w: int | None = None, bits_a: int | None = None) -> QuantConfig:
    """Read and validate a config file (``path`` None gives the defaults), then apply explicit
    bit widths passed to torch_quantizer."""
    cfg = QuantConfig()
    if path is not None:
        _read(Path(path), cfg)
    if bits_w is not None:
        cfg.bits_w = cfg.bits_b = _Reader(Path("torch_quantizer")).bits(bits_w, "bitwidth_w")
    if bits_a is not None:
        cfg.bits_a = cfg.bits_in = _Reader(Path("torch_quantizer")).bits(bits_a, "bitwidth_a")
    return cfg
