"""Cross-layer equalization (``include_cle``; Nagel et al. 2019, "Data-Free Quantization").

Per-tensor power-of-two weights lose the channels whose range is far below the tensor's largest.
For a pair A -> B where B's input channel i is A's output channel i and what lies between is
positively homogeneous (f(s x) = s f(x) for s > 0), dividing A's output channel i (weights and bias)
by s_i and multiplying B's weights that read channel i by s_i leaves the float function unchanged.

Rules:
- a pair is a quantized conv / dense A (not transposed) feeding a quantized conv / dense B, A's only
  user, directly or through max-pools that are each their producer's only user; A's fused activation
  is none, ReLU or LeakyReLU (ReLU6 clips at 6 and is not homogeneous, nor are the hard-sigmoid
  family); A is not a graph output; B's input channels are A's output channels (no flatten between);
- ``s_i = sqrt(r1_i / r2_i)`` with ``r1_i = max |W_A[i]|`` and ``r2_i`` the largest ``|w|`` of B's
  weights that read channel i; after it both ranges are ``sqrt(r1_i r2_i)``; a channel where either
  range is 0 keeps s = 1;
- pairs are equalized in graph order, ROUNDS times over (chains A -> B -> C converge);
- it is a deterministic function of the float weights: calibration applies it before observing
  anything and test mode applies it again when quant_info.json lists the pairs (``cle``); the
  parameters of the quantized module (its buffers) change, the user's model does not.
"""
from __future__ import annotations

import torch

from .errors import QuantInfoError

ROUNDS = 4
HOMOGENEOUS_ACTS = (None, "relu", "leaky-relu")
_LAYERS = ("conv2d", "inner-product")


def find_pairs(g) -> list[tuple[str, str]]:
    """The (A, B) node-name pairs CLE equalizes, in graph order (see the rules above)."""
    users = g.users()
    pairs = []
    for a in g.nodes:
        if a.kind not in _LAYERS or a.quant != "own" or a.act not in HOMOGENEOUS_ACTS or a.name in g.outputs:
            continue
        cur = a
        while len(users[cur.name]) == 1 and cur.name not in g.outputs and users[cur.name][0].kind == "maxpool2d" \
                and users[cur.name][0].quant != "float":
            cur = users[cur.name][0]
        if len(users[cur.name]) != 1 or cur.name in g.outputs:
            continue
        b = users[cur.name][0]
        if b.kind != a.kind or b.quant != "own":
            continue
        wa, wb = a.params["weight"], b.params["weight"]
        groups = b.attrs.get("groups", 1) if b.kind == "conv2d" else 1
        if wb.shape[1] * groups != wa.shape[0]:
            continue
        pairs.append((a.name, b.name))
    return pairs


def _in_channel_view(w: torch.Tensor, groups: int) -> torch.Tensor:
    """B's weight as [groups, out per group, in per group, rest...]."""
    return w.reshape(groups, w.shape[0] // groups, w.shape[1], -1)


def equalize_pair(qm, a: str, b: str) -> None:
    """One equalization of the pair (A, B) on the quantized module's parameters."""
    pa, pb = qm.params_of(a), qm.params_of(b)
    nb = qm.graph.node(b)
    groups = nb.attrs.get("groups", 1) if nb.kind == "conv2d" else 1
    wa, wb = pa["weight"], pb["weight"]
    r1 = wa.abs().reshape(wa.shape[0], -1).amax(1)
    vb = _in_channel_view(wb, groups)
    r2 = vb.abs().amax(dim=(1, 3)).reshape(-1)          # [groups * in per group] = A's channels
    ok = (r1 > 0) & (r2 > 0)
    s = torch.where(ok, torch.sqrt(r1 / torch.where(ok, r2, torch.ones_like(r2))), torch.ones_like(r1))
    qm.set_param(a, "weight", wa / s.reshape(-1, *([1] * (wa.dim() - 1))))
    if "bias" in pa:
        qm.set_param(a, "bias", pa["bias"] / s)
    sv = s.reshape(groups, 1, wb.shape[1], 1)
    qm.set_param(b, "weight", (vb * sv).reshape(wb.shape))


def apply_cle(qm, pairs: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """Equalize ``pairs`` (default: every pair of ``find_pairs``) ROUNDS times; returns the pairs."""
    pairs = find_pairs(qm.graph) if pairs is None else pairs
    for _ in range(ROUNDS):
        for a, b in pairs:
            equalize_pair(qm, a, b)
    return pairs


def reapply_recorded(qm, recorded, path) -> None:
    """Test mode: CLE again on the pairs quant_info.json lists (they must be this model's pairs)."""
    want = [tuple(p) for p in recorded]
    have = find_pairs(qm.graph)
    if want != have:
        raise QuantInfoError(f"{path}: the cross-layer equalization recorded in 'cle' ({len(want)} pair(s)) "
                             f"does not match this model ({len(have)} pair(s)); the file belongs to another "
                             "model: re-run calibration")
    apply_cle(qm, have)
