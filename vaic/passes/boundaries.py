"""Boundaries: make every crossing between a DPU subgraph and the rest of the graph explicit.

Rule: a tensor that enters a DPU subgraph from outside is read inside through an ``upload`` op, and a
tensor that leaves it for another subgraph is handed over through a ``download`` op at the end of
the DPU subgraph; both keep the tensor's bytes and fix position (the backend treats them as aliases
of the same DDR buffer). A graph output produced on the DPU needs no download: the runner reads it.
"""
from __future__ import annotations

import xir

from xir.transforms.fold_fix import FIX_ATTRS, _set_fix


def _fix_of(t: xir.Tensor) -> dict:
    return {k: t.get_attr(k) for k in FIX_ATTRS}


def insert_boundaries(g: xir.Graph, subgraphs: list[xir.Subgraph]) -> list[str]:
    log = []
    for sg in subgraphs:
        if sg.get_attr("device") != "DPU":
            continue
        inside = {o.get_name() for o in sg.get_ops()}
        for t in sg.get_input_tensors():
            src = t.producer
            if src.get_type() in ("const-fix", "const"):
                continue
            readers = [u for u in src.get_fanout_ops() if u.get_name() in inside]
            name = f"{src.get_name()}_upload"
            if g.has_op(name):  # read by several DPU subgraphs: one upload each
                name = f"{src.get_name()}_upload_to_{sg.get_name()}"
            up = _set_fix(g.create_op(name, "upload", {}, {"input": [src]}, subgraph=sg), _fix_of(t))
            for u in readers:
                u.replace_input_op(src, up)
            log.append(f"boundaries: upload {t.name} into {sg.get_name()}")
        inside = {o.get_name() for o in sg.get_ops()}
        for t in list(sg.get_output_tensors()):
            src = t.producer
            outside = [u for u in src.get_fanout_ops() if u.get_name() not in inside]
            if not outside:
                continue  # a graph output: read by the runner directly
            down = _set_fix(g.create_op(f"{src.get_name()}_download", "download", {}, {"input": [src]}, subgraph=sg),
                            _fix_of(t))
            for u in outside:
                u.replace_input_op(src, down)
            log.append(f"boundaries: download {t.name} from {sg.get_name()}")
    return log
