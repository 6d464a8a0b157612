"""The quantized model (``quantizer.quant_model``): runs the prepared graph in one of three modes.

- ``float``: the float model (BatchNorm folded), as the user's model computes it;
- ``calib``: float forward with the hardware approximations, every quantized tensor observed;
- ``test``:  the exact fixed-point semantics (vaiq.run_exact), outputs on their fix grids.
Inputs keep the model's own layout and batch size is free.
"""
from __future__ import annotations

import torch
from torch.utils._pytree import tree_unflatten

from .calib import NonFiniteActivation, Observer, fake_quant
from .errors import VaiqError
from .fixtable import FixTable
from .ir import QGraph
from .prepare import has_fix
from . import run_exact, run_float


class QuantModule(torch.nn.Module):
    def __init__(self, graph: QGraph, mode: str, bits_w: int = 8, bits_a: int = 8, method: str = "diffs",
                 layer_bits: dict | None = None, round_a: str = "DPU_ROUND", bits_in: int | None = None,
                 round_in: str = "DPU_ROUND", statistic: str = "modal", percentage: float = 99.99,
                 keep_calib_inputs: int = 0, keep_calib_elements: int = 0):
        super().__init__()
        self.graph = graph
        self.mode = mode
        self.bits_w, self.bits_a, self.method, self.round_a = bits_w, bits_a, method, round_a
        self.round_in = round_in
        self.statistic, self.percentage = statistic, percentage
        # calibration inputs kept (for bias correction): at most this many samples and input elements
        self.keep_calib_inputs, self.keep_calib_elements = keep_calib_inputs, keep_calib_elements
        self.calib_inputs: list[tuple[torch.Tensor, ...]] = []
        self.bits_in = bits_in or bits_a
        self.layer_bits = layer_bits or {}
        self._nodes = list(graph.nodes)
        for n in self._nodes:
            for k, v in n.params.items():
                self.register_buffer(_buf(n.name, k), v.detach().float().clone(), persistent=False)
        self.table: FixTable | None = None
        self.observers: dict[str, Observer] = {}
        self.batches_seen = 0
        self.last_inputs = None
        self.recorder = None          # calib mode: called with each forward's inputs (fast finetune)
        self._qparams: dict[str, dict[str, torch.Tensor]] | None = None
        self._batch = next(iter(graph.input_shapes.values()))[0] if graph.input_shapes else 1
        self._last_use = {}
        for idx, n in enumerate(self._nodes):
            for i in n.inputs:
                self._last_use[i] = idx
        self._keep = set(graph.outputs)

    # -- parameters ---------------------------------------------------------------------------
    def params_of(self, name: str) -> dict[str, torch.Tensor]:
        n = self.graph.node(name)
        return {k: getattr(self, _buf(name, k)) for k in n.params}

    def set_param(self, name: str, key: str, value: torch.Tensor) -> None:
        """Replace one parameter of node ``name`` (the one place that changes weights after capture);
        drops the cached on-grid parameters so the next exact run quantizes the new values."""
        buf = getattr(self, _buf(name, key))
        if tuple(value.shape) != tuple(buf.shape):
            raise VaiqError(f"parameter {name}.{key}: shape {tuple(value.shape)} does not match the "
                            f"model's {tuple(buf.shape)}")
        buf.copy_(value.detach().to(buf.dtype))
        self._qparams = None

    def bits_for(self, node_name: str, what: str) -> int:
        """Bit width of a node's activation ("a") or parameters ("w"), config overrides first."""
        over = self.layer_bits.get(node_name, {})
        if what == "a" and node_name in self.graph.inputs:
            return int(over.get(what, self.bits_in))
        return int(over.get(what, self.bits_a if what == "a" else self.bits_w))

    def quantized_params(self) -> dict[str, dict[str, torch.Tensor]]:
        """Weights and biases on their fix grids (STD_ROUND), float64; cached."""
        if self._qparams is None:
            if self.table is None:
                raise VaiqError("no fix positions loaded: test mode needs quant_info.json")
            out = {}
            for n in self._nodes:
                if n.quant == "own" and n.params and n.kind in ("conv2d", "transposed-conv2d", "inner-product"):
                    out[n.name] = {k: fake_quant(v.double(), self.table.param_pos[f"{n.name}.{k}"],
                                                 self.table.param_bits[f"{n.name}.{k}"], "STD_ROUND")
                                   for k, v in self.params_of(n.name).items()}
            self._qparams = out
        return self._qparams

    def set_table(self, table: FixTable) -> None:
        self.table = table
        self._qparams = None

    # -- running ----------------------------------------------------------------------------------
    def float_step(self, n, xs: list[torch.Tensor], params=None, dpu_approx: bool | None = None) -> torch.Tensor:
        """Float and calib mode's value of one non-input node from its inputs' values (calib mode
        with the DPU approximations unless ``dpu_approx`` says otherwise); ``params`` overrides the
        node's own parameters."""
        if n.kind == "reshape" and n.attrs["shape"] and n.attrs["shape"][0] == self._batch:
            return xs[0].reshape((xs[0].shape[0],) + tuple(n.attrs["shape"][1:]))
        return run_float.run_node(n, xs, self.params_of(n.name) if params is None else params,
                                  dpu_approx=self.mode == "calib" if dpu_approx is None else dpu_approx)

    def exact_step(self, n, xs: list[torch.Tensor], qparams=None) -> torch.Tensor:
        """Test mode's value of one node (float64) from its inputs' values (for an input node, the model
        input): the exact value, then the node's single rounding when it owns a fix position."""
        if n.kind == "input":
            y = xs[0].double()
        elif n.kind == "reshape" and n.attrs["shape"] and n.attrs["shape"][0] == self._batch:
            y = xs[0].reshape((xs[0].shape[0],) + tuple(n.attrs["shape"][1:]))
        else:
            qp = (qparams if qparams is not None else self.quantized_params()).get(n.name, {})
            y = run_exact.run_node(n, xs, qp, self.params_of(n.name))
        if has_fix(n) and n.quant != "shared":
            y = run_exact.quantize_out(y, self.table.get(n.name), self.table.bw(n.name),
                                       self.round_in if n.kind == "input" else self.round_a)
        return y

    def reset_params(self) -> None:
        """Back to the captured float parameters (before CLE and bias correction)."""
        for n in self._nodes:
            for k, v in n.params.items():
                self.set_param(n.name, k, v.detach().float())

    def forward(self, *args):
        g = self.graph
        if len(args) != len(g.inputs):
            raise VaiqError(f"{g.name} takes {len(g.inputs)} input tensor(s), got {len(args)}")
        vals: dict[str, torch.Tensor] = {}
        exact = self.mode == "test"
        if exact and self.table is None:
            raise VaiqError("test mode has no fix positions: load quant_info.json first")
        qparams = self.quantized_params() if exact else None
        if exact:
            self.last_inputs = tuple(a.detach() for a in args)
        for name, x in zip(g.inputs, args):
            if not isinstance(x, torch.Tensor):
                raise VaiqError(f"input '{name}' must be a tensor, got {type(x).__name__}")
            want = g.input_shapes[name]
            if tuple(x.shape[1:]) != tuple(want[1:]):
                raise VaiqError(f"input '{name}' has shape {tuple(x.shape)}; the model was captured with "
                                f"{tuple(want)} (any batch size, the other dims must match)")
        if self.recorder is not None and self.mode == "calib":
            self.recorder(args)
        for idx, n in enumerate(self._nodes):
            if n.kind == "input":
                x = args[g.inputs.index(n.name)]
                y = self.exact_step(n, [x], qparams) if exact else x.float()
            else:
                xs = [vals[i] for i in n.inputs]
                y = self.exact_step(n, xs, qparams) if exact else self.float_step(n, xs)
            if self.mode == "calib" and has_fix(n) and n.quant != "shared":
                obs = self.observers.get(n.name)
                if obs is None:
                    obs = self.observers[n.name] = Observer(self.bits_for(n.name, "a"), self.method,
                                                            inputs_only_safe=n.kind == "input",
                                                            statistic=self.statistic, percentage=self.percentage)
                try:
                    obs.update(y)
                except NonFiniteActivation as e:
                    where = "input" if n.kind == "input" else "output"
                    raise VaiqError(f"calibration: the {where} of '{n.scope or n.name}' holds NaN or an infinity "
                                    f"({e}); check the calibration data and the float model") from None
            vals[n.name] = y
            for i in n.inputs:
                if self._last_use.get(i) == idx and i not in self._keep:
                    vals.pop(i, None)
        if self.mode == "calib":
            self.batches_seen += 1
            n = sum(int(a[0].shape[0]) for a in self.calib_inputs)
            elems = sum(t.numel() for a in self.calib_inputs for t in a)
            per = max(1, sum(t[:1].numel() for t in args))
            room = min(self.keep_calib_inputs - n, (self.keep_calib_elements - elems) // per)
            if n == 0 and self.keep_calib_inputs > 0:
                room = max(room, 1)          # one sample even when it alone exceeds the element budget
            if room > 0:
                self.calib_inputs.append(tuple(a[:room].detach().clone() for a in args))
        outs = [vals[o].float() if exact else vals[o] for o in g.outputs]
        if g.output_structure is None:
            return outs[0] if len(outs) == 1 else tuple(outs)
        return tree_unflatten(outs, g.output_structure)


def _buf(node: str, key: str) -> str:
    return f"p__{node}__{key}".replace(".", "_")
