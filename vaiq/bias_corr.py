"""Bias correction (``include_bias_corr``, on by default as in pytorch_nndct).

Quantizing weights and activations shifts the mean of a layer's output: E[W_q x_q] != E[W x].
Rules:
- calibration keeps its first inputs (up to KEEP_SAMPLES samples and KEEP_ELEMENTS input elements,
  so large images keep fewer samples and the side-by-side pass stays in memory); after the fix positions are settled,
  the float model and the exact fixed-point model (test mode's semantics) run side by side over them
  in graph order; at every quantized conv / transposed conv / dense with a bias, the correction is
  the per-output-channel mean, over the batch and spatial positions, of float pre-activation output
  minus fixed-point pre-activation output; the float bias becomes ``bias + correction`` (float32)
  and the bias position is computed again from it (same method); later layers see the corrected
  layer (corrections compound in order, as the deployed model computes);
- layers without a bias are left alone (adding one would change the deploy graph);
- ``bias_corr.pth`` beside quant_info.json holds the corrections keyed by quant_info's parameter names
  and quant_info.json says ``bias_corrected: true``; test mode adds them to the float biases again
  (the same float32 addition, so the same bits) and every export carries the corrected biases.
"""
from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import torch

from xir.xmodel import write_atomic

from . import quant_info, run_exact, run_float
from .calib import param_pos
from .errors import QuantInfoError

FILE = "bias_corr.pth"
KEEP_SAMPLES = 512
KEEP_ELEMENTS = 1 << 21
_LAYERS = ("conv2d", "transposed-conv2d", "inner-product")


def _channel_mean(y: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean per output channel: dim 1 of a conv's NCHW output, the last dim of a dense layer's."""
    ch = y.dim() - 1 if kind == "inner-product" else 1
    return y.double().mean(dim=[d for d in range(y.dim()) if d != ch])


def correct(qm, table, method: str, percentage: float) -> dict[str, torch.Tensor]:
    """Correct the biases of ``qm`` (in place, see the rules) over its kept calibration inputs;
    returns {node name: correction}. ``table`` holds the settled positions; bias positions change."""
    g = qm.graph
    n_in = len(g.inputs)
    args = [torch.cat([b[i] for b in qm.calib_inputs]) for i in range(n_in)]
    qm.set_table(table)
    last_use = {}
    for idx, n in enumerate(qm._nodes):
        for i in n.inputs:
            last_use[i] = idx
    vf: dict[str, torch.Tensor] = {}
    vq: dict[str, torch.Tensor] = {}
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for idx, n in enumerate(qm._nodes):
            if n.kind == "input":
                x = args[g.inputs.index(n.name)]
                vf[n.name] = x.float()
                vq[n.name] = qm.exact_step(n, [x])
                continue
            xf = [vf[i] for i in n.inputs]
            xq = [vq[i] for i in n.inputs]
            vf[n.name] = qm.float_step(n, xf)          # the float reference keeps the float bias
            if n.kind in _LAYERS and n.quant == "own" and "bias" in n.params:
                bare = replace(n, act=None)
                params = qm.params_of(n.name)
                yf = run_float.run_node(bare, xf, params, dpu_approx=True)
                yq = run_exact.run_node(bare, xq, qm.quantized_params()[n.name], params)
                d = (_channel_mean(yf, n.kind) - _channel_mean(yq, n.kind)).float()
                qm.set_param(n.name, "bias", params["bias"] + d)
                key = f"{n.name}.bias"
                table.param_pos[key] = param_pos(qm.params_of(n.name)["bias"], table.param_bits[key], method,
                                                 percentage)
                qm.set_table(table)
                out[n.name] = d
            vq[n.name] = qm.exact_step(n, xq)
            for i in n.inputs:
                if last_use.get(i) == idx and i not in g.outputs:
                    vf.pop(i, None)
                    vq.pop(i, None)
    return out


def keyed(g, corrections: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Corrections keyed by quant_info's parameter names (``<Graph>::<module path>.bias``)."""
    return {quant_info.param_key(g, g.node(name), "bias"): d.detach().float().clone()
            for name, d in corrections.items()}


def to_bytes(keyed_corrections: dict[str, torch.Tensor]) -> bytes:
    buf = io.BytesIO()
    torch.save(keyed_corrections, buf)
    return buf.getvalue()


def save(path: Path, keyed_corrections: dict[str, torch.Tensor]) -> Path:
    """Write ``bias_corr.pth`` (atomic)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(Path(path), to_bytes(keyed_corrections))
    return Path(path)


def _read(path: Path):
    """torch.load of real tensors, also when called from a torch.compile backend (WeGO's): there
    torch.load sees dynamo's tracing context and would load fake (meta) tensors, so it runs without it."""
    from torch._guards import TracingContext, tracing
    if TracingContext.try_get() is None:
        return torch.load(path, map_location="cpu", weights_only=True)
    with tracing(None):
        return torch.load(path, map_location="cpu", weights_only=True)


def load_and_apply(qm, path: Path) -> dict[str, torch.Tensor]:
    """Test mode: add the corrections of ``path`` to the float biases of ``qm``; returns them."""
    path = Path(path)
    if not path.exists():
        raise QuantInfoError(f"{path}: no such file, but quant_info.json says bias_corrected: true; copy "
                             f"{FILE} from the calibration's output directory beside quant_info.json or "
                             "re-run calibration")
    try:
        data = _read(path)
    except Exception as e:
        raise QuantInfoError(f"{path}: cannot read the bias corrections ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise QuantInfoError(f"{path}: not a bias correction file (a dict of tensors); re-run calibration")
    g = qm.graph
    by_key = {quant_info.param_key(g, n, "bias"): n for n in g.nodes
              if n.kind in _LAYERS and n.quant == "own" and "bias" in n.params}
    unknown = sorted(set(data) - set(by_key))
    if unknown:
        raise QuantInfoError(f"{path}: correction for '{unknown[0]}', which this model does not have; the file "
                             "belongs to another model: re-run calibration")
    for key, d in data.items():
        n = by_key[key]
        b = qm.params_of(n.name)["bias"]
        if tuple(d.shape) != tuple(b.shape):
            raise QuantInfoError(f"{path}: correction '{key}' has shape {tuple(d.shape)}, the bias "
                                 f"{tuple(b.shape)}; the file belongs to another model: re-run calibration")
        qm.set_param(n.name, "bias", b + d.float())
    return data
