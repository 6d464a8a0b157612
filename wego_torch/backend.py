"""The ``torch.compile`` backend ``"vitis_ai"``:
``torch.compile(model, backend="vitis_ai", options={"quantize_result_path": ..., "target": ...})``.

Rule: dynamo hands the backend its FX graph with the model's parameters lifted to graph inputs; the
backend puts them back as attributes under their module paths and names the graph inputs and the
graph after the model's (as the quantization result records them), so vaiq captures the same graph
it calibrated; the graph is then compiled like ``wego_torch.compile`` does and the backend returns a
function of the graph's user inputs. Symbolic sizes (dynamo's dynamic shapes) are given their example
values: the compiled module takes any batch size anyway.
"""
from __future__ import annotations

import re

import torch
import torch.fx

from .errors import WegoError

NAME = "vitis_ai"
KNOWN = ("quantize_result_path", "target", "cache_dir", "verbose", "wego_subgraph_min_ops_number")


def _source_name(node: torch.fx.Node) -> str:
    arg = node.meta.get("grapharg")
    src = getattr(arg, "source", None)
    if src is None:
        return ""
    name = src.name
    return name() if callable(name) else str(name)


def _param_path(source: str) -> str | None:
    """``L['self']._modules['conv1']._parameters['weight']`` -> ``conv1.weight``."""
    m = re.search(r"\._(?:parameters|buffers)\['([^']+)'\]$", source)
    if not m:
        return None
    mods = re.findall(r"_modules\['([^']+)'\]", source)
    return ".".join(mods + [m.group(1)])


def _local_name(source: str) -> str | None:
    m = re.fullmatch(r"L\['([A-Za-z_][A-Za-z0-9_]*)'\]", source)
    return m.group(1) if m else None


def rebuild(gm: torch.fx.GraphModule, example_inputs, graph_name: str):
    """A module with the parameters as attributes and the user inputs named as in the model's forward;
    returns (module, user example inputs, their positions among the backend's inputs)."""
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != len(example_inputs):
        raise WegoError("vitis_ai backend: dynamo's graph and its example inputs disagree")
    attrs: dict[str, torch.Tensor] = {}
    g = torch.fx.Graph()
    env: dict[torch.fx.Node, object] = {}
    user_pos, user_args = [], []
    for k, (ph, ex) in enumerate(zip(placeholders, example_inputs)):
        src = _source_name(ph)
        path = _param_path(src)
        if path is not None and isinstance(ex, torch.Tensor):
            attrs[path] = ex.detach()
            env[ph] = g.get_attr(path)
        elif isinstance(ex, torch.Tensor):
            env[ph] = g.placeholder(_local_name(src) or ph.name)
            user_pos.append(k)
            user_args.append(ex.detach())
        else:                      # a symbolic size: its example value
            env[ph] = int(ex) if isinstance(ex, (int, torch.SymInt)) else ex
    for n in gm.graph.nodes:
        if n.op == "placeholder":
            continue
        if n.op == "get_attr":
            attrs.setdefault(n.target, getattr(gm, n.target).detach() if isinstance(
                getattr(gm, n.target), torch.Tensor) else getattr(gm, n.target))
        env[n] = g.node_copy(n, lambda a: env[a])
    root = torch.nn.Module()
    for path, t in attrs.items():
        mod = root
        *mods, last = path.split(".")
        for part in mods:
            if not hasattr(mod, part):
                mod.add_module(part, torch.nn.Module())
            mod = getattr(mod, part)
        if isinstance(t, torch.nn.Module):
            mod.add_module(last, t)
        else:
            mod.register_buffer(last, t)
    m = torch.fx.GraphModule(root, g)
    m.__class__ = type(graph_name, (m.__class__,), {})
    return m.eval(), tuple(user_args), user_pos


def vitis_ai(gm: torch.fx.GraphModule, example_inputs, options: dict | None = None, **kw):
    from .module import WegoModule
    from .options import CompileOptions, DynamoCompileOptions, PartitionOptions
    from .quantized import graph_name_of
    opts = dict(options or {})
    bad = sorted(set(opts) - set(KNOWN))
    if bad:
        raise WegoError(f"vitis_ai backend: unknown option(s) {bad}; known: {list(KNOWN)}")
    if "quantize_result_path" not in opts:
        raise WegoError("vitis_ai backend needs options={'quantize_result_path': <folder of quant_info.json>}")
    folder = opts["quantize_result_path"]
    model, args, pos = rebuild(gm, example_inputs, graph_name_of(folder))
    co = CompileOptions(dynamo=True, dynamo_options=DynamoCompileOptions(str(folder)), target=opts.get("target"),
                        cache_dir=opts.get("cache_dir"), verbose=bool(opts.get("verbose", True)),
                        partition_options=PartitionOptions(int(opts.get("wego_subgraph_min_ops_number", 1))))
    from .compiled import target_of
    target_of(co.resolved_target())
    wm = WegoModule(model, folder, co, args, batch_one=False)   # dynamo may have fixed the batch

    def run(*inputs):
        out = wm(*[inputs[k] for k in pos])
        return out if isinstance(out, (tuple, list)) else (out,)
    run.wego_module = wm
    return run


def register_backend() -> None:
    """Register ``vitis_ai`` with torch.compile (once)."""
    from torch._dynamo import list_backends, register_backend as reg
    if NAME not in list_backends(exclude_tags=()):
        reg(name=NAME)(vitis_ai)
