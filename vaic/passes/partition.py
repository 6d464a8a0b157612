"""Partition: split the canonical graph into USER / DPU / CPU subgraphs.

Rules:
- every op gets a placement (vaic.passes.support); constants go with the ops that read them;
- ops of one device are merged into as few subgraphs as possible without a cycle between subgraphs
  (``xir.target.grouping``, the rule ``vaiq inspect --target`` estimates with);
- children of the root are named ``subgraph_<first op>`` and listed in topological order; a DPU
  subgraph records ``device``, a CPU subgraph ``cpu_reasons`` (op -> reason) as well.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import xir
from xir.target import Target
from xir.target.grouping import device_groups

from .support import Placement, place


@dataclass
class Group:
    gid: int
    device: str
    ops: list[xir.Op] = field(default_factory=list)


def partition(g: xir.Graph, t: Target, generated: frozenset[str],
              overrides: dict[str, Placement] | None = None,
              merge_siblings: bool = True) -> tuple[list[Group], dict[str, Placement]]:
    """Groups of ops per device; ``overrides`` fixes the placement of named ops (e.g. NOT_TILED);
    ``merge_siblings`` as in ``xir.target.grouping.device_groups``."""
    order = g.toposort()
    overrides = overrides or {}
    where = {op.get_name(): overrides.get(op.get_name()) or place(op, t, generated)
             for op in order if op.get_type() not in ("const-fix", "const")}
    # constants follow their first reader
    for op in order:
        if op.get_type() in ("const-fix", "const"):
            users = op.get_fanout_ops()
            where[op.get_name()] = where[users[0].get_name()] if users else Placement("CPU", "UNUSED", "unused constant")
    consts = [op for op in order if op.get_type() in ("const-fix", "const")]
    ops = [op for op in order if op.get_type() not in ("const-fix", "const")]
    by_name = {op.get_name(): op for op in ops}
    preds = {op.get_name(): [i.get_name() for i in op.inputs if i.get_type() not in ("const-fix", "const")]
             for op in ops}
    groups = [Group(k, grp.device, [by_name[n] for n in grp.members])
              for k, grp in enumerate(device_groups([op.get_name() for op in ops],
                                                    {n: where[n].device for n in by_name}, preds,
                                                    merge_siblings))]
    group_of = {op.get_name(): grp for grp in groups for op in grp.ops}
    for c in consts:
        users = c.get_fanout_ops()
        target_group = group_of[users[0].get_name()] if users else groups[0]
        target_group.ops.insert(0, c)
        group_of[c.get_name()] = target_group
    return groups, where


def make_subgraphs(g: xir.Graph, groups: list[Group], where: dict[str, Placement]) -> list[xir.Subgraph]:
    root = g.get_root_subgraph()
    root.remove_children()
    out = []
    for grp in groups:
        first = next((o for o in grp.ops if o.get_type() not in ("const-fix", "const")), grp.ops[0])
        sg = root.create_child(f"subgraph_{first.get_name()}", grp.ops)
        sg.set_attr("device", grp.device)
        if grp.device == "CPU":
            sg.set_attr("cpu_reasons", {o.get_name(): f"{where[o.get_name()].code}: {where[o.get_name()].reason}"
                                        for o in grp.ops if o.get_type() not in ("const-fix", "const")})
        out.append(sg)
    ordered = root.toposort_child_subgraph()
    root.children = ordered
    return ordered

