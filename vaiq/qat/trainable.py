"""The trainable QAT model: the quantizer's graph run as a differentiable fake-quantized twin of the
exact fixed-point model, with trained power-of-two thresholds (vaiq.qat.tqt).

Rules:
- one graph: the QGraph vaiq's post-training flow uses (same capture, same prepare rules), prepared
  with BatchNorm kept (``prepare(keep_bn=True)``): a conv absorbing a BatchNorm carries its trainable
  gamma/beta and running statistics. Every forward folds the BatchNorm into the conv's weights and
  bias with ``vaiq.prepare``'s folding arithmetic, then quantizes the folded tensors, so the weight
  thresholds are trained on the tensors the DPU runs. In training mode (until ``freeze_bn_stats()``)
  a layer runs one conv with its weights folded with the running statistics and quantized (the
  tensors the DPU will run), then rescales and shifts its output so that it is BatchNorm's output
  with the batch statistics (gradients through them, as float training has), and updates the running
  statistics (momentum 0.1) (the batch-normalization folding for training of Krishnamoorthi,
  "Quantizing deep convolutional networks for efficient inference", 2018); in eval mode, after ``freeze_bn_stats()`` and after
  ``fuse_conv_bn()`` the fold uses the running statistics, as deployment does. With batch statistics
  BatchNorm also divides out each channel's gain error from weight quantization, which the deployed
  fold keeps: at low bit widths finish training after ``freeze_bn_stats()`` (docs/vaiq.md's recipe);
- every tensor that has a fix position in the deploy graph has a threshold: one per FixTable group
  (concat and shared-position ops share it; the DPU's rule), and one per weight / bias tensor (a
  module's weight shared by several calls has one). Weights and biases round with STD_ROUND,
  activations with the configured activation rounding (DPU_ROUND), as test mode does; the float parts
  use the DPU's approximations (LeakyReLU 26/256, avg-pool factor, hard-sigmoid 2731/2^14, the
  hard-swish gate rounded to its fixed position, straight-through);
- warm-up initializes thresholds from data: weights from their statistics when the model is made,
  activations from the first forward pass(es) (vaiq's calibration observers) unless ``calib_dir``
  gave positions; those passes return the float result;
- ``freeze_quant()`` turns thresholds into fix positions, runs vaiq's DPU refinement (FixTable),
  writes the refined positions back into the thresholds and stops training them. From then on the
  model in eval mode with quantization enabled *is* the exact test-mode model (vaiq.qmodule in test
  mode over the folded graph with the trained tensors), so it computes what the deployable model,
  test-mode ``quant_model`` and the DPU emulator compute, bit for bit.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._pytree import tree_unflatten

from xir import fixpoint

from .. import run_float
from ..calib import Observer, param_pos
from ..config import QuantConfig
from ..errors import QatError
from ..fixtable import CONV_LIKE, FixTable
from ..ir import QGraph
from ..prepare import bn_scale_shift, fold_into, fold_kept_batchnorm, folded_params, has_fix, kept_bn
from ..qmodule import QuantModule, _buf
from .tqt import fix_pos, log2_threshold, tqt_quantize

BN_MOMENTUM = 0.1


def _safe(name: str) -> str:
    return name.replace(".", "__")


def _linear_part(n, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """A conv / transposed conv / dense layer without its activation (for batch statistics)."""
    a = n.attrs
    if n.kind == "conv2d":
        return F.conv2d(x, w, b, a["stride"], a["padding"], a["dilation"], a["groups"])
    if n.kind == "transposed-conv2d":
        return F.conv_transpose2d(x, w, b, a["stride"], a["padding"], a["output_padding"], a["groups"],
                                  a["dilation"])
    return F.linear(x, w, b)


class QatModel(nn.Module):
    """What ``QatProcessor.trainable_model()`` returns; see the module rules."""

    def __init__(self, graph: QGraph, config: QuantConfig, layer_bits: dict, shared_scopes=(),
                 calib_table: FixTable | None = None, warmup_batches: int = 1):
        super().__init__()
        self.graph = graph
        self.config = config
        self._nodes = list(graph.nodes)
        self._batch = next(iter(graph.input_shapes.values()))[0] if graph.input_shapes else 1
        self._last_use = {i: idx for idx, n in enumerate(self._nodes) for i in n.inputs}
        self.deploy_graph = copy.deepcopy(graph)
        fold_kept_batchnorm(self.deploy_graph)
        self.exact = QuantModule(self.deploy_graph, "test", config.bits_w, config.bits_a, config.method,
                                 layer_bits, config.round_a, config.bits_in)
        self.quant_enabled = True
        self.bn_frozen = False
        self.frozen_table: FixTable | None = None
        # persistent, so a state_dict saved after warm-up resumes without a second warm-up
        self.register_buffer("act_initialized", torch.tensor(False))
        self._rewarm = False
        self.fused_bn: dict[str, tuple[float, dict[str, str]]] = {}   # node -> (eps, BatchNorm tensor names)
        self.weights = nn.Module()
        self.thresholds = nn.Module()
        self._pkey: dict[tuple[str, str], str] = {}
        for n in self._nodes:
            for k, v in n.params.items():
                self._register_tensor(n, k, v, trainable=n.kind in CONV_LIKE and not k.startswith("bn.running"))
        # activation thresholds: one per FixTable group; owners of one reused module share one
        self._groups = FixTable(self.deploy_graph)
        self._act_key: dict[str, str] = {}
        by_scope: dict[str, str] = {}
        for name in self._groups.owners():
            node, root = self.deploy_graph.node(name), self._groups.root(name)
            shared = node.scope in shared_scopes and node.scope
            key = by_scope.get(node.scope) if shared else None
            key = key or self._act_key.get(root) or "a__" + _safe(root)
            self._act_key[root] = key
            if shared:
                by_scope[node.scope] = key
            if not hasattr(self.thresholds, key):
                self.thresholds.register_parameter(key, nn.Parameter(torch.zeros(())))
        self._act_bits = {}
        for root, mem in self._groups.members().items():
            owners = [m for m in mem if m in set(self._groups.owners())]
            self._act_bits[root] = max(self.exact.bits_for(m, "a") for m in owners)
        # parameter thresholds: one per quantized weight / bias tensor
        self._w_key: dict[str, str] = {}
        self._w_bits: dict[str, int] = {}
        self._quantized_layers = [n for n in self.deploy_graph.nodes if n.quant == "own" and n.kind in CONV_LIKE]
        start = self.deploy_params()
        for n in self._quantized_layers:
            for k in n.params:
                tkey = f"{n.name}.{k}"
                key = "w__" + _safe(n.param_names.get(k) or tkey)
                bits = self.exact.bits_for(n.name, "w") if k == "weight" else \
                    layer_bits.get(n.name, {}).get("w", config.bits_b)
                self._w_key[tkey], self._w_bits[tkey] = key, bits
                if not hasattr(self.thresholds, key):
                    pos = calib_table.param_pos[tkey] if calib_table else param_pos(start[n.name][k], bits, config.method)
                    self.thresholds.register_parameter(key, nn.Parameter(torch.tensor(log2_threshold(pos, bits))))
        self.observers: dict[str, Observer] = {}
        self.register_buffer("_gate_t", torch.tensor(log2_threshold(fixpoint.HSWISH_GATE_FIX_POS,
                                                                    fixpoint.HSWISH_GATE_BIT_WIDTH)),
                             persistent=False)
        self.warmup_left = warmup_batches
        if calib_table is not None:
            self._set_act_positions({r: calib_table.pos[calib_table.root(r)] for r in self._act_bits})
            self.warmup_left = 0

    # -- tensors -------------------------------------------------------------------------------
    def _register_tensor(self, n, k, v, trainable: bool) -> None:
        key = _safe(n.param_names.get(k) or f"{n.name}.{k}")
        self._pkey[(n.name, k)] = key
        if hasattr(self.weights, key):
            return                                    # a reused module's tensor: one copy
        if trainable:
            self.weights.register_parameter(key, nn.Parameter(v.detach().float().clone()))
        else:
            self.weights.register_buffer(key, v.detach().float().clone())

    def _params(self, n) -> dict[str, torch.Tensor]:
        return {k: getattr(self.weights, self._pkey[(n.name, k)]) for k in n.params}

    def _fold(self, n, p: dict[str, torch.Tensor], x: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """The node's weight and bias with its kept BatchNorm folded: running statistics, except for a
        BatchNorm standing alone (``from_bn``) while it trains, which folds its input's batch statistics."""
        bn = kept_bn(n)
        if bn is None:
            return p
        bn = {k[3:]: v for k, v in p.items() if k.startswith("bn.")}
        if self.training and not self.bn_frozen and x is not None:
            dims = [0] + list(range(2, x.dim()))
            with torch.no_grad():
                var, mean = torch.var_mean(x, dims, correction=0)
                self._update_running(bn, mean, var, x.numel() // x.shape[1])
            bn = {**bn, "running_mean": mean, "running_var": var}
        return folded_params(n, p, bn)

    @staticmethod
    def _update_running(bn: dict[str, torch.Tensor], mean: torch.Tensor, var: torch.Tensor, count: int) -> None:
        bn["running_mean"].mul_(1 - BN_MOMENTUM).add_(mean, alpha=BN_MOMENTUM)
        bn["running_var"].mul_(1 - BN_MOMENTUM).add_(var * count / max(count - 1, 1), alpha=BN_MOMENTUM)

    def _conv_bn_batch(self, n, x: torch.Tensor, p: dict[str, torch.Tensor], quant: bool) -> torch.Tensor:
        """A layer with its BatchNorm in training (batch statistics), before its activation, with one
        conv: ``y = conv(x, Q(W * s))`` with the running fold ``s = gamma / sqrt(running_var + eps)``
        (the weights the DPU will run); ``y / s + conv bias`` stands for the float conv output and goes
        through BatchNorm with batch statistics (gradients through them, running statistics updated,
        as in float training). The quantized folded bias enters as ``(Q(b) - b) * sigma_r / sigma_batch``:
        with batch statistics equal to the running ones the result is the deployed layer ``y + Q(b)``."""
        bn = {k[3:]: v for k, v in p.items() if k.startswith("bn.")}
        eps = n.attrs["bn_eps"]
        # the fold reads copies of the running statistics: batch_norm updates them in place
        before = {"running_mean": bn["running_mean"].clone(), "running_var": bn["running_var"].clone()}
        scale, shift = bn_scale_shift({**bn, **before}, eps)
        w, b = fold_into(n.kind, n.attrs.get("groups", 1), p["weight"], p.get("bias"), scale, shift)
        if quant:
            w = tqt_quantize(w, self._w_t(n.name, "weight"), self._w_bits[f"{n.name}.weight"], "STD_ROUND")
        y = _linear_part(n, x, w, None)
        shape = (1, -1) + (1,) * (y.dim() - 2)
        inv = (1.0 / torch.where(scale == 0, torch.ones_like(scale), scale)).reshape(shape)  # gamma 0: y is 0
        z = y * inv if p.get("bias") is None else torch.addcmul(p["bias"].reshape(shape), y, inv)
        out, _, inv_std = torch.native_batch_norm(z, bn.get("weight"), bn.get("bias"), bn["running_mean"],
                                                  bn["running_var"], True, BN_MOMENTUM, eps)
        if quant:
            qb = tqt_quantize(b, self._w_t(n.name, "bias"), self._w_bits[f"{n.name}.bias"], "STD_ROUND")
            k = torch.sqrt(before["running_var"] + eps) * inv_std
            out = out + ((qb - b) * k).reshape(shape)
        return out

    def deploy_params(self) -> dict[str, dict[str, torch.Tensor]]:
        """Every deploy-graph node's tensors (BatchNorm folded with running statistics), detached."""
        out = {}
        with torch.no_grad():
            for n in self._nodes:
                if n.params:
                    out[n.name] = {k: v.detach().clone() for k, v in self._fold(n, self._params(n), None).items()}
        return out

    def quantizer_parameters(self) -> list[nn.Parameter]:
        """The thresholds (log2), for their own optimizer group."""
        return list(self.thresholds.parameters())

    def non_quantizer_parameters(self) -> list[nn.Parameter]:
        """Weights, biases and BatchNorm gamma/beta."""
        return list(self.weights.parameters())

    # -- switches ------------------------------------------------------------------------------
    def enable_quant(self) -> None:
        self.quant_enabled = True

    def disable_quant(self) -> None:
        """Run the float model (BatchNorm folded the same way, DPU approximations kept)."""
        self.quant_enabled = False

    @property
    def act_ready(self) -> bool:
        return bool(self.act_initialized)

    def enable_warmup(self, batches: int = 1) -> None:
        """Re-initialize the activation thresholds from the next ``batches`` forward passes."""
        if self.frozen_table is not None:
            raise QatError("enable_warmup(): the thresholds are frozen (freeze_quant() was called)")
        if batches < 1:
            raise QatError(f"enable_warmup(batches={batches}): needs at least one batch")
        self.observers, self.warmup_left, self._rewarm = {}, int(batches), True

    def disable_warmup(self) -> None:
        """End warm-up now (thresholds from the passes seen so far, if any)."""
        if self.warmup_left and self.observers:
            self._finish_warmup()
        self.warmup_left, self._rewarm = 0, False

    def freeze_bn_stats(self) -> None:
        """Fold BatchNorm with its running statistics from now on (they stop updating)."""
        self.bn_frozen = True

    def fuse_conv_bn(self) -> None:
        """Fold every BatchNorm kept on a conv / dense layer into it for good (running statistics);
        a BatchNorm standing alone stays one. The layer's weight keeps its Parameter object; a layer
        that had no bias gets a new bias Parameter, so build the optimizer after this call."""
        with torch.no_grad():
            for n in self._nodes:
                if kept_bn(n) is None or n.attrs.get("from_bn"):
                    continue
                p = self._params(n)
                f = folded_params(n, p, None)
                self.fused_bn[n.name] = (n.attrs["bn_eps"], {k[3:]: v for k, v in n.param_names.items()
                                                              if k.startswith("bn.")})
                p["weight"].copy_(f["weight"])
                for k in [k for k in n.params if k.startswith("bn.")]:
                    n.params.pop(k)
                    n.param_names.pop(k, None)
                    self._pkey.pop((n.name, k))
                n.attrs.pop("bn_eps")
                if "bias" in p:
                    p["bias"].copy_(f["bias"])
                else:
                    n.params["bias"] = f["bias"]
                    self._register_tensor(n, "bias", f["bias"], trainable=True)
        self.bn_frozen = True

    # -- thresholds and positions --------------------------------------------------------------
    def _act_t(self, name: str) -> nn.Parameter:
        return getattr(self.thresholds, self._act_key[self._groups.root(name)])

    def _w_t(self, node: str, k: str) -> nn.Parameter:
        return getattr(self.thresholds, self._w_key[f"{node}.{k}"])

    def _set_act_positions(self, pos: dict[str, int]) -> None:
        with torch.no_grad():
            for root, p in pos.items():
                getattr(self.thresholds, self._act_key[root]).fill_(log2_threshold(p, self._act_bits[root]))
            self.act_initialized.fill_(True)

    def _finish_warmup(self) -> None:
        table = FixTable(self.deploy_graph)
        table.settle_groups({k: o.result() for k, o in self.observers.items()},
                            {k: o.bw for k, o in self.observers.items()})
        self._set_act_positions({r: table.pos[r] for r in self._act_bits})
        self.observers, self.warmup_left, self._rewarm = {}, 0, False

    def position_table(self) -> FixTable:
        """The fix positions the thresholds stand for, DPU-refined; thresholds shared by several
        tensors (a reused module) take the lowest of their refined positions."""
        if not self.act_ready:
            raise QatError("the activation thresholds are not initialized yet: run at least one forward "
                           "pass over training data (warm-up) first, or pass calib_dir to trainable_model()")
        table = FixTable(self.deploy_graph)
        for root, bits in self._act_bits.items():
            table.pos[root], table.bits[root] = fix_pos(getattr(self.thresholds, self._act_key[root]), bits), bits
        for tkey, key in self._w_key.items():
            table.param_pos[tkey] = fix_pos(getattr(self.thresholds, key), self._w_bits[tkey])
            table.param_bits[tkey] = self._w_bits[tkey]
        for _ in range(16):
            table.refine()
            if not self._tie(table):
                break
        bad = table.violations()
        if bad:
            raise QatError(f"the trained fix positions break DPU constraints after refinement: {bad[0]}")
        return table

    def _tie(self, table: FixTable) -> bool:
        """Give tensors that share a threshold one position (the lowest); True when something moved."""
        moved = False
        for keys, get, put in ((self._w_key, table.param_pos.__getitem__, table.param_pos.__setitem__),
                               (self._act_key, table.pos.__getitem__, table.pos.__setitem__)):
            by: dict[str, list[str]] = {}
            for t, key in keys.items():
                by.setdefault(key, []).append(t)
            for ts in by.values():
                low = min(get(t) for t in ts)
                for t in ts:
                    if get(t) != low:
                        put(t, low)
                        moved = True
        return moved

    def freeze_quant(self) -> FixTable:
        """Fix the thresholds at their DPU-refined positions (they stop training); returns the table."""
        table = self.position_table()
        with torch.no_grad():
            for tkey, key in self._w_key.items():
                getattr(self.thresholds, key).fill_(log2_threshold(table.param_pos[tkey], self._w_bits[tkey]))
            for root, key in self._act_key.items():
                getattr(self.thresholds, key).fill_(log2_threshold(table.pos[root], self._act_bits[root]))
        for t in self.thresholds.parameters():
            t.requires_grad_(False)
        self.frozen_table = table
        self.warmup_left = 0
        return table

    @property
    def frozen(self) -> bool:
        return self.frozen_table is not None

    def sync_exact(self) -> QuantModule:
        """The exact test-mode model with the current trained tensors and the frozen positions."""
        if self.frozen_table is None:
            raise QatError("the exact model needs frozen thresholds: call freeze_quant() first")
        values = self.deploy_params()
        for name, p in values.items():
            for k, v in p.items():
                getattr(self.exact, _buf(name, k)).copy_(v)
        self.exact.set_table(self.frozen_table)
        return self.exact

    # -- running -------------------------------------------------------------------------------
    def _value(self, n, xs: list[torch.Tensor], quant: bool) -> torch.Tensor:
        """The node's (fake-quantized when ``quant``) value before its output quantizer."""
        if n.kind == "reshape" and n.attrs["shape"] and n.attrs["shape"][0] == self._batch:
            return xs[0].reshape((xs[0].shape[0],) + tuple(n.attrs["shape"][1:]))
        p = self._params(n)
        own = quant and n.quant == "own"
        if n.kind in CONV_LIKE:
            if self.training and not self.bn_frozen and "bn_eps" in n.attrs and not n.attrs.get("from_bn"):
                return run_float.apply_act(self._conv_bn_batch(n, xs[0], p, own), n.act, n.act_attrs,
                                           dpu_approx=True)
            p = self._fold(n, p, xs[0])
            if own:
                p = {k: tqt_quantize(v, self._w_t(n.name, k), self._w_bits[f"{n.name}.{k}"], "STD_ROUND")
                     for k, v in p.items()}
        elif n.kind == "hard-swish" and own:               # the DPU rounds its gate
            gate = run_float.apply_act(xs[0], "hard-sigmoid", n.attrs, dpu_approx=True)
            return xs[0] * tqt_quantize(gate, self._gate_t, fixpoint.HSWISH_GATE_BIT_WIDTH, "DPU_ROUND")
        return run_float.run_node(n, xs, p, dpu_approx=True)

    def forward(self, *args):
        g = self.graph
        if len(args) != len(g.inputs):
            raise QatError(f"{g.name} takes {len(g.inputs)} input tensor(s), got {len(args)}")
        if self.quant_enabled and self.frozen and not self.training:
            with torch.no_grad():
                return self.sync_exact()(*args)
        warm = self.quant_enabled and self.warmup_left > 0 and (self._rewarm or not self.act_ready)
        quant = self.quant_enabled and not warm
        if quant and not self.act_ready:
            raise QatError("the activation thresholds are not initialized: call enable_warmup() and run a "
                           "forward pass over training data, or pass calib_dir to trainable_model()")
        vals: dict[str, torch.Tensor] = {}
        for idx, n in enumerate(self._nodes):
            if n.kind == "input":
                y = args[g.inputs.index(n.name)].float()
            else:
                xs = [vals[i] for i in n.inputs]
                y = self._value(n, xs, quant)
            if has_fix(n) and n.quant != "shared":
                if warm:
                    obs = self.observers.get(n.name)
                    if obs is None:
                        obs = self.observers[n.name] = Observer(self.exact.bits_for(n.name, "a"), self.config.method,
                                                                inputs_only_safe=n.kind == "input")
                    obs.update(y)
                elif quant:
                    y = tqt_quantize(y, self._act_t(n.name), self._act_bits[self._groups.root(n.name)],
                                     self.config.round_a)
            vals[n.name] = y
            for i in n.inputs:
                if self._last_use.get(i) == idx and i not in g.outputs:
                    vals.pop(i, None)
        if warm:
            self.warmup_left -= 1
            if self.warmup_left == 0:
                self._finish_warmup()
        outs = [vals[o] for o in g.outputs]
        if g.output_structure is None:
            return outs[0] if len(outs) == 1 else tuple(outs)
        return tree_unflatten(outs, g.output_structure)
