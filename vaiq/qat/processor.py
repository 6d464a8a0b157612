"""``QatProcessor``: pytorch_nndct's quantization-aware training API on vaiq.

    qat = QatProcessor(model, (x,), bitwidth=8)
    qmodel = qat.trainable_model()                      # train it with your own loop
    deployable = qat.to_deployable(qmodel, "qat_result")  # quant_info.json + qat_param.pth
    qat.export_xmodel("qat_result")

Rules:
- the model is captured once with torch.export (no rewriting needed); a leaf module called more than
  once in ``forward`` is an error naming it, unless ``allow_reused_module=True`` (then its calls share
  one weight threshold and one output threshold, with a warning);
- every file goes to the output directory the caller names (written atomically); nothing is written
  anywhere else, so QATs in parallel do not meet;
- ``to_deployable`` freezes the thresholds if the caller has not, writes ``quant_info.json`` (vaiq's
  format, positions DPU-refined, naming its parameter file under ``qat_param``) and ``qat_param.pth``
  (the BatchNorm-folded trained tensors of every node, with the graph fingerprint), then returns
  test-mode ``torch_quantizer``'s ``quant_model`` loaded from that directory: the deployable model is
  vaiq's test mode, which loads the file a quant_info.json names;
- every call that needs an earlier one says which: exports need ``to_deployable`` in this run or a
  directory it wrote (``deployable_model(src_dir)``).
"""
from __future__ import annotations

import copy
import warnings
from collections import Counter
from pathlib import Path

import torch

from ..api import _as_args, torch_quantizer
from ..capture import capture
from ..config import load_config
from ..errors import QatError, VaiqError
from ..fixtable import FixTable
from ..prepare import prepare
from .. import quant_info
from .params import PARAM_FILE, write_params
from .trainable import QatModel


def reused_modules(model: torch.nn.Module, args: tuple) -> dict[str, int]:
    """Leaf modules ``forward`` calls more than once on ``args``: module path -> number of calls."""
    calls: Counter = Counter()
    hooks = [m.register_forward_pre_hook(lambda mod, inp, name=name: calls.update([name]))
             for name, m in model.named_modules() if name and not any(True for _ in m.children())]
    try:
        with torch.no_grad():
            model(*args)
    finally:
        for h in hooks:
            h.remove()
    return {name: c for name, c in calls.items() if c > 1}


class QatProcessor:
    """Quantization-aware training of ``model`` (example ``inputs``) at ``bitwidth`` bits."""

    def __init__(self, model: torch.nn.Module, inputs, bitwidth: int = 8, mix_bit: bool = False,
                 device=None):
        if not isinstance(model, torch.nn.Module):
            raise VaiqError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if mix_bit:
            raise VaiqError("mix_bit=True (mixed bit widths chosen by search) is not supported by vaiq; "
                            "set per-layer bit widths in a quant_config_file instead")
        if device is not None and torch.device(device).type != "cpu":
            warnings.warn("vaiq QAT runs on the CPU; device is ignored", stacklevel=2)
        self.bitwidth = int(bitwidth)
        self.config = load_config(None, self.bitwidth, self.bitwidth)
        self.args = tuple(a.detach().to("cpu") for a in _as_args(inputs))
        self._model = copy.deepcopy(model).to("cpu").eval()
        self._captured = capture(self._model, self.args)    # first: a model that does not run fails clearly here
        self._reused = reused_modules(self._model, self.args)
        self._qmodel: QatModel | None = None
        self._quantizer: torch_quantizer | None = None

    # -- training ------------------------------------------------------------------------------
    def trainable_model(self, calib_dir: str = "", allow_reused_module: bool = False,
                        warmup_batches: int = 1) -> QatModel:
        """A new trainable model (see vaiq.qat.trainable). ``calib_dir``: a folder with a
        ``quant_info.json`` of this model (post-training calibration) whose positions start the
        thresholds; without it the first ``warmup_batches`` forward passes initialize them."""
        if self._reused and not allow_reused_module:
            name, n = next(iter(sorted(self._reused.items())))
            raise QatError(f"module '{name}' is called {n} times in forward; QAT gives every call its own "
                           "quantizer only if every call has its own module: define one module per call, or "
                           "pass allow_reused_module=True to share one quantizer between the calls")
        if self._reused:
            warnings.warn("reused modules share one quantizer between their calls: "
                          + ", ".join(f"{k} ({v} calls)" for k, v in sorted(self._reused.items())), stacklevel=2)
        graph = prepare(copy.deepcopy(self._captured), self.config.silu_to_hswish,
                        self.config.sigmoid_to_hsigmoid, keep_bn=True)
        calib = None
        if calib_dir:
            calib = self._calib_table(graph, Path(calib_dir))
        self._qmodel = QatModel(graph, self.config, {}, set(self._reused), calib, warmup_batches)
        return self._qmodel

    def _calib_table(self, graph, folder: Path) -> FixTable:
        from ..prepare import fold_kept_batchnorm
        deploy = copy.deepcopy(graph)
        fold_kept_batchnorm(deploy)
        path = folder / "quant_info.json"
        table = FixTable(deploy)
        for w in quant_info.load_into(deploy, table, quant_info.read(path), path):
            warnings.warn(w, stacklevel=3)
        return table

    # -- deployment ----------------------------------------------------------------------------
    def _check(self, qmodel) -> QatModel:
        if not isinstance(qmodel, QatModel):
            raise QatError(f"expected the model trainable_model() returned, got {type(qmodel).__name__}")
        if qmodel.deploy_graph.md5() != self._deploy_md5():
            raise QatError("this trainable model belongs to another QatProcessor (its graph differs)")
        return qmodel

    def _deploy_md5(self) -> str:
        g = prepare(copy.deepcopy(self._captured), self.config.silu_to_hswish, self.config.sigmoid_to_hsigmoid)
        return g.md5()

    def to_deployable(self, qmodel: QatModel, output_dir: str = "qat_result"):
        """Freeze (if not yet), write ``quant_info.json`` + ``qat_param.pth`` to ``output_dir`` and
        return the deployable model (test-mode ``quant_model`` loaded from there)."""
        qmodel = self._check(qmodel)
        table = qmodel.frozen_table or qmodel.freeze_quant()
        out = Path(output_dir)
        values = qmodel.deploy_params()
        write_params(out / PARAM_FILE, qmodel.deploy_graph, values)
        info = quant_info.to_dict(qmodel.deploy_graph, table)
        info["qat_param"] = PARAM_FILE
        quant_info.write(out / "quant_info.json", info)
        self._float_for_export(qmodel)
        return self.deployable_model(str(out))

    def deployable_model(self, src_dir: str = "qat_result", used_for_xmodel: bool = False):
        """The deployable model from a folder ``to_deployable`` wrote (also in a later run).
        ``used_for_xmodel`` is accepted for nndct's scripts; every vaiq deployable model exports."""
        src = Path(src_dir)
        missing = [f for f in ("quant_info.json", PARAM_FILE) if not (src / f).exists()]
        if missing:
            raise QatError(f"{src}: no {' or '.join(missing)}; call to_deployable(qmodel, "
                           f"output_dir='{src_dir}') after training first")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            q = torch_quantizer("test", self._export_model(), self.args, output_dir=str(src),
                                bitwidth=self.bitwidth)
        for w in caught:
            warnings.warn(w.message, stacklevel=2)
        self._quantizer = q
        return q.quant_model

    def _float_for_export(self, qmodel: QatModel) -> None:
        """The user's float model with the trained tensors written back where the state dict has them
        (exports that carry the float program, TorchScript, then carry the trained one)."""
        m = copy.deepcopy(self._model)
        sd = m.state_dict()
        for (node, k), key in qmodel._pkey.items():
            name = qmodel.graph.node(node).param_names.get(k)
            v = getattr(qmodel.weights, key)
            if name in sd and sd[name].shape == v.shape:
                sd[name] = v.detach().clone()
        for node, (eps, names) in qmodel.fused_bn.items():
            # the layer holds the folded tensors: its BatchNorm becomes one that folds to exactly x * 1 + beta,
            # beta being the folded bias when the layer has no bias of its own
            ref = sd[names["running_var"]]
            n = qmodel.graph.node(node)
            bias = getattr(qmodel.weights, qmodel._pkey[(node, "bias")]).detach().clone()
            sd[names["running_var"]] = torch.ones_like(ref)
            sd[names["running_mean"]] = torch.zeros_like(ref)
            if "weight" in names:
                sd[names["weight"]] = torch.sqrt(torch.ones_like(ref) + eps)
            if "bias" in names:
                sd[names["bias"]] = torch.zeros_like(ref) if n.param_names.get("bias") in sd else bias
        m.load_state_dict(sd)
        self._trained = m.eval()

    def _export_model(self) -> torch.nn.Module:
        return getattr(self, "_trained", self._model)

    def _exporter(self, output_dir) -> torch_quantizer:
        q = self._quantizer
        if q is None or (output_dir and Path(output_dir) != q.output_dir):
            self.deployable_model(output_dir or "qat_result")
        return self._quantizer

    def export_xmodel(self, output_dir: str = "qat_result", deploy_check: bool = False):
        """Write ``<Net>_int.xmodel`` of the deployable model in ``output_dir``."""
        return self._exporter(output_dir).export_xmodel(output_dir, deploy_check=deploy_check)

    def export_onnx_model(self, output_dir: str = "qat_result", **kw):
        return self._exporter(output_dir).export_onnx_model(output_dir, **kw)

    def export_torch_script(self, output_dir: str = "qat_result", verbose: bool = False):
        return self._exporter(output_dir).export_torch_script(output_dir)
