"""``torch_quantizer``: pytorch_nndct's quantizer API on vaiq (scripts port by changing one import).

The usual two runs:
  run 1: ``torch_quantizer("calib", model, (x,))``, forward passes over calibration data through
         ``quant_model``, then ``export_quant_config()`` (writes ``<output_dir>/quant_info.json``);
  run 2: ``torch_quantizer("test", model, (x,))`` loads it; ``quant_model`` computes the exact
         fixed-point result; ``export_xmodel()``, ``export_onnx_model()``, ``export_torch_script()``.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import torch

from . import bias_corr, cle
from .calib import param_pos
from .capture import capture
from .config import QuantConfig, load_config
from .errors import VaiqError
from .fixtable import FixTable
from .ir import QGraph
from .prepare import assign_roles, prepare
from .qmodule import QuantModule
from .regions import apply_stubs, apply_target
from . import quant_info

log = logging.getLogger("vaiq")

_MODES = {0: "float", 1: "calib", 2: "test", "float": "float", "calib": "calib", "test": "test"}
_LAST: list["torch_quantizer"] = []


def _as_args(input_args) -> tuple:
    if input_args is None:
        raise VaiqError("torch_quantizer needs input_args: an example input tensor (or a tuple of them)")
    if isinstance(input_args, torch.Tensor):
        return (input_args,)
    if isinstance(input_args, (list, tuple)) and all(isinstance(a, torch.Tensor) for a in input_args):
        return tuple(input_args)
    raise VaiqError("input_args must be a tensor or a tuple of tensors")


def _check_finite_params(g: QGraph) -> None:
    """Rule: every weight and bias is finite (a NaN cannot be quantized, an infinity would saturate)."""
    for n in g.nodes:
        for k, v in n.params.items():
            if v.is_floating_point() and not bool(torch.isfinite(v).all()):
                what = "NaN" if bool(torch.isnan(v).any()) else "an infinite value"
                raise VaiqError(f"{n.scope or n.name}: its {k} holds {what}; fix the float model's weights "
                                "(or the --weights file) before quantizing")


class torch_quantizer:  # noqa: N801  (pytorch_nndct's name)
    """Quantize ``module`` for a DPU: ``quant_mode`` 'float' | 'calib' | 'test' (or 0 | 1 | 2)."""

    def __init__(self, quant_mode, module: torch.nn.Module, input_args=None, input_kwargs=None,
                 state_dict_file=None, output_dir: str = "quantize_result", bitwidth: int | None = None,
                 mix_bit: bool = False, device=None, lstm: bool = False, app_deploy: str = "CV",
                 qat_proc: bool = False, custom_quant_ops=None, quant_config_file=None, target=None,
                 dynamo: bool = False, bitwidth_w: int | None = None, bitwidth_a: int | None = None):
        if quant_mode not in _MODES:
            raise VaiqError(f"quant_mode {quant_mode!r} is not one of 'float', 'calib', 'test' (or 0, 1, 2)")
        if not isinstance(module, torch.nn.Module):
            raise VaiqError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        if lstm:
            raise VaiqError("lstm=True (RNN quantization) is not supported by vaiq")
        if custom_quant_ops:
            raise VaiqError("custom_quant_ops are not supported by vaiq")
        self.quant_mode = _MODES[quant_mode]
        self.output_dir = Path(output_dir)
        self.device = self._device(device)
        self.dynamo = dynamo
        self.target = self._target(target)
        if state_dict_file is not None:
            p = Path(state_dict_file)
            if not p.exists():
                raise VaiqError(f"{p}: no such state_dict file")
            try:
                sd = torch.load(p, map_location="cpu", weights_only=True)
            except Exception as e:
                raise VaiqError(f"{p}: cannot load the state dict ({type(e).__name__}: {e})") from None
            try:
                module.load_state_dict(sd)
            except RuntimeError as e:
                raise VaiqError(f"{p}: does not match the model: {str(e).splitlines()[0]}") from None
        bits = bitwidth if bitwidth is not None else None
        self.config: QuantConfig = load_config(quant_config_file, bitwidth_w if bitwidth_w is not None else bits,
                                               bitwidth_a if bitwidth_a is not None else bits)
        module = module.to("cpu").eval()
        self._float_module = module
        args = tuple(a.to("cpu") for a in _as_args(input_args))
        self.graph: QGraph = capture(module, args, input_kwargs)
        _check_finite_params(self.graph)
        self.decisions = apply_stubs(self.graph)
        self._apply_layer_rules()
        prepare(self.graph, self.config.silu_to_hswish, self.config.sigmoid_to_hsigmoid, self.config.relu6_to_relu)
        self._apply_layer_rules(after=True)
        self.decisions.apply(self.graph)
        if self.target is not None:
            apply_target(self.graph, self.target, self.decisions)
        c = self.config
        keep = bias_corr.KEEP_SAMPLES if c.include_bias_corr and self.quant_mode == "calib" else 0
        self.quant_model = QuantModule(self.graph, self.quant_mode, c.bits_w, c.bits_a, c.method, self._layer_bits(),
                                       c.round_a, c.bits_in, round_in=c.round_in, statistic=c.calib_statistic_method,
                                       percentage=c.percentage, keep_calib_inputs=keep,
                                       keep_calib_elements=bias_corr.KEEP_ELEMENTS)
        self.table: FixTable | None = None
        self.warnings: list[str] = []
        self.fast_finetuned = False      # calib: fast_finetune() ran; test: param.pth loaded
        self.ft_expected = False         # test: quant_info.json says the calib run was finetuned
        self.ft_report = None
        self.cle_pairs: list[tuple[str, str]] = []
        self.bias_corrections: dict[str, torch.Tensor] = {}   # quant_info parameter name -> correction
        self._bias_corr_file: Path | None = None
        if self.quant_mode == "calib" and c.include_cle:
            self.cle_pairs = cle.apply_cle(self.quant_model)
        if self.quant_mode == "test":
            self.load_quant_config()
        _LAST[:] = [self]

    # -- setup helpers -----------------------------------------------------------------------
    @staticmethod
    def _device(device):
        if device is None:
            return torch.device("cpu")
        d = torch.device(device)
        if d.type == "cuda" and not torch.cuda.is_available():
            log.info("CUDA is not available; vaiq runs on the CPU")
            return torch.device("cpu")
        return d

    @staticmethod
    def _target(target):
        """The target to quantize for: ``target=``, else $NNDCT_TARGET, else none (all ops quantized)."""
        if target is None:
            target = os.environ.get("NNDCT_TARGET", "").strip() or None
        if target is None:
            return None
        from xir.target import TargetError, load_target
        try:
            return load_target(target)
        except TargetError as e:
            raise VaiqError(str(e)) from None

    def _apply_layer_rules(self, after: bool = False) -> None:
        if not after:
            self._kept_float = self.config.kept_float(self.graph)
        for n in self.graph.nodes:
            rules = self.config.layer_rules(n) if self.config.layers else {}
            if rules.get("quantizable") is False and n.kind != "input":
                n.quant, n.reason = "float", "excluded by layer_quantize_config"
            elif n.name in self._kept_float:
                n.quant, n.reason = "float", self._kept_float[n.name]
        if after:
            assign_roles(self.graph)

    def _layer_bits(self) -> dict:
        out = {}
        for n in self.graph.nodes:
            rules = self.config.layer_rules(n) if self.config.layers else {}
            bits = {k: rules[k] for k in ("a", "w", "b") if k in rules}
            if bits:
                out[n.name] = bits
        return out

    # -- calibration result ---------------------------------------------------------------------
    def _param_table(self) -> FixTable:
        table = FixTable(self.graph)
        for n in self.graph.nodes:
            if n.quant == "own" and n.kind in ("conv2d", "transposed-conv2d", "inner-product"):
                for k, v in self.quant_model.params_of(n.name).items():
                    bw = self.quant_model.bits_for(n.name, "w") if k == "weight" else \
                        self.quant_model.layer_bits.get(n.name, {}).get("b", self.config.bits_b)
                    table.param_bits[f"{n.name}.{k}"] = bw
                    table.param_pos[f"{n.name}.{k}"] = param_pos(v, bw, self.config.method, self.config.percentage)
        return table

    def export_quant_config(self) -> Path:
        """Finish calibration: positions (mode over batches), DPU refinement, quant_info.json."""
        if self.quant_mode != "calib":
            raise VaiqError("export_quant_config() belongs to quant_mode 'calib'")
        qm = self.quant_model
        if qm.batches_seen == 0:
            raise VaiqError("no calibration data was seen: run forward passes through quant_model "
                            "before export_quant_config()")
        table = self._calibrated_table()
        # after fast finetune no bias correction: AdaQuant already fitted the biases to the float model's
        # layer outputs, and correcting toward the finetuned weights' float outputs would undo that
        if self.config.include_bias_corr and qm.calib_inputs and not self.fast_finetuned:
            corrections = bias_corr.correct(qm, table, self.config.method, self.config.percentage)
            self.refine_log += table.refine()
            bad = table.violations()
            if bad:
                raise VaiqError(f"fix positions break DPU constraints after bias correction: {bad[0]}")
            self.bias_corrections = bias_corr.keyed(self.graph, corrections)
            if self.bias_corrections:          # none when no quantized layer has a bias
                bias_corr.save(self.output_dir / bias_corr.FILE, self.bias_corrections)
        self.table = table
        qm.set_table(table)
        path = self.output_dir / "quant_info.json"
        quant_info.write(path, self._quant_info_dict())
        log.info("wrote %s", path)
        return path

    def _calibrated_table(self) -> FixTable:
        """Positions from the observers so far (mode over batches) and the current parameters,
        refined to the DPU constraints."""
        qm = self.quant_model
        table = self._param_table()
        calibrated = {name: obs.result() for name, obs in qm.observers.items()}
        bits = {name: obs.bw for name, obs in qm.observers.items()}
        table.settle_groups(calibrated, bits)
        self.refine_log = table.refine()
        bad = table.violations()
        if bad:
            raise VaiqError(f"fix positions break DPU constraints after refinement: {bad[0]}")
        return table

    def load_quant_config(self, path=None) -> None:
        path = Path(path) if path else self.output_dir / "quant_info.json"
        data = quant_info.read(path)
        self.ft_expected = bool(data.get("fast_finetuned"))
        table = FixTable(self.graph)
        self.warnings = quant_info.load_into(self.graph, table, data, path, self.target)
        qm = self.quant_model
        qm.reset_params()
        self.cle_pairs = [tuple(p) for p in data.get("cle") or []]
        if self.cle_pairs:
            cle.reapply_recorded(qm, self.cle_pairs, path)
        self.bias_corrections = {}
        if data.get("bias_corrected"):
            self._bias_corr_file = path.parent / bias_corr.FILE
            self.bias_corrections = bias_corr.load_and_apply(qm, self._bias_corr_file)
        for w in self.warnings:
            warnings.warn(w, stacklevel=3)
        table.refine()
        self.table = table
        self.quant_model.set_table(table)
        if data.get("qat_param"):                  # a QAT result: its trained tensors sit beside it
            from .qat.params import load_params
            load_params(self.quant_model, path, data["qat_param"])

    # -- fast finetune (vaiq.finetune) -------------------------------------------------------
    def fast_finetune(self, run_fn, run_args=(), *, progress=None, settings=None):
        """AdaQuant in calib mode: ``run_fn(*run_args)`` must run ``quant_model`` on finetuning data.
        It is called once to record that data, then conv/dense parameters are adjusted layer by layer
        (rules in vaiq/finetune.py), written to ``<output_dir>/param.pth``, and ``run_fn`` runs again
        so calibration sees the finetuned model. In other modes a no-op with a note (as in nndct).
        ``progress(label, total)``: optional per-layer progress context (the CLI passes a rich bar)."""
        from . import finetune
        if self.quant_mode != "calib":
            warnings.warn(f"fast_finetune() does nothing in quant_mode '{self.quant_mode}'; in 'test' "
                          "call load_ft_param() to use the parameters the calib run finetuned", stacklevel=2)
            return None
        qm = self.quant_model
        inputs = finetune.record(qm, run_fn, tuple(run_args))
        self.ft_report = finetune.adaquant(qm, inputs, self._calibrated_table, self.output_dir,
                                           settings, progress)
        layers = [r.name for r in self.ft_report.layers]
        finetune.save_params(self.output_dir / finetune.PARAM_FILE, qm, layers)
        qm.observers.clear()
        qm.batches_seen = 0
        with torch.no_grad():
            run_fn(*run_args)
        self.fast_finetuned = True
        return self.ft_report

    def load_ft_param(self, path=None) -> None:
        """Use the finetuned parameters in ``<output_dir>/param.pth`` (or ``path``); refuses a file
        made for another model. Bias corrections (computed after finetuning in the calib run) are added
        on top again."""
        from . import finetune
        finetune.load_params(Path(path) if path else self.output_dir / finetune.PARAM_FILE, self.quant_model)
        if self._bias_corr_file is not None:
            bias_corr.load_and_apply(self.quant_model, self._bias_corr_file)
        self.fast_finetuned = True

    def _quant_info_dict(self) -> dict:
        data = quant_info.to_dict(self.graph, self.table, self.target)
        data["fast_finetuned"] = self.fast_finetuned
        data["bias_corrected"] = bool(self.bias_corrections)
        data["cle"] = [list(p) for p in self.cle_pairs]
        return data

    def quant_result_files(self) -> dict[str, bytes]:
        """The quantization result as files (name -> bytes): quant_info.json, and bias_corr.pth when the
        biases were corrected; what a carrier of the result (a TorchScript export, a WeGO archive) keeps."""
        self._need_table("quant_result_files()")
        out = {"quant_info.json": quant_info.dumps(self._quant_info_dict())}
        if self.bias_corrections:
            out[bias_corr.FILE] = bias_corr.to_bytes(self.bias_corrections)
        return out

    def _need_table(self, what: str) -> None:
        if self.table is None:
            raise VaiqError(f"{what} needs fix positions: export_quant_config() (calib) or quant_mode 'test'")

    # -- exports ------------------------------------------------------------------------------
    def _need_test(self, what: str) -> None:
        if self.quant_mode != "test" or self.table is None:
            raise VaiqError(f"{what} needs quant_mode 'test' (with the quant_info.json of a calib run)")
        if self.ft_expected and not self.fast_finetuned:
            warnings.warn(f"{what}: quant_info.json comes from a fast-finetuned calib run, but "
                          "load_ft_param() was not called: the export uses the original weights", stacklevel=3)

    def export_xmodel(self, output_dir=None, deploy_check: bool = False, dynamic_batch: bool = False) -> Path:
        """Write ``<Net>_int.xmodel`` (the deploy graph); with ``deploy_check`` also per-layer dumps."""
        self._need_test("export_xmodel()")
        from .export_xmodel import export_deploy_graph
        out = Path(output_dir) if output_dir else self.output_dir
        return export_deploy_graph(self, out, deploy_check=deploy_check)

    def export_onnx_model(self, output_dir=None, verbose: bool = False, dynamic_batch: bool = False,
                          opset_version: int | None = None, native_onnx: bool = True,
                          dump_layers: bool = False, check_model: bool = False, opt_graph: bool = False,
                          *, exact_rounding: bool = True) -> Path:
        """Write ``<Net>_int.onnx`` with QuantizeLinear/DequantizeLinear (power-of-two scales).
        ``exact_rounding`` (an addition to nndct's arguments): True reproduces ``quant_model`` exactly in
        onnxruntime, default session options included; False writes plain Q/DQ pairs (half to even on
        ties, fusable by int8 back ends)."""
        self._need_test("export_onnx_model()")
        from .export_onnx import export_onnx
        out = Path(output_dir) if output_dir else self.output_dir
        return export_onnx(self, out, dynamic_batch=dynamic_batch, opset_version=opset_version,
                           exact_rounding=exact_rounding)

    def export_torch_script(self, output_dir=None, verbose: bool = False) -> Path:
        """Write ``<Net>_int.pt``: a TorchScript module computing the quantized model."""
        self._need_test("export_torch_script()")
        from .export_torchscript import export_torch_script
        out = Path(output_dir) if output_dir else self.output_dir
        return export_torch_script(self, out)

    @property
    def example_inputs(self) -> tuple:
        return tuple(torch.zeros(self.graph.input_shapes[i]) for i in self.graph.inputs)


def dump_xmodel(output_dir: str = "quantize_result", deploy_check: bool = False):
    """Module-level form of ``export_xmodel`` for the last quantizer created (pytorch_nndct's name)."""
    if not _LAST:
        raise VaiqError("dump_xmodel() needs a torch_quantizer in quant_mode 'test' created first")
    return _LAST[0].export_xmodel(output_dir, deploy_check=deploy_check)
