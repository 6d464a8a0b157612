"""Partition: split the canonical graph into USER / DPU / CPU subgraphs.

Rules:
- every op gets a placement (vaic.passes.support); constants go with the ops that read them;
- ops of one device are merged into as few subgraphs as possible: an op joins a subgraph of the same
  device that feeds it unless that would create a cycle between subgraphs (a path leaving the
  subgraph and coming back), in which case a new subgraph starts; then subgraphs of one device that
  no path through a third subgraph connects (sibling branches, e.g. two convs of the network input)
  are merged, so no two DPU subgraphs remain that could run as one;
- children of the root are named ``subgraph_<first op>`` and listed in topological order; a DPU
  subgraph records ``device``, a CPU subgraph ``cpu_reasons`` (op -> reason) as well.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import xir
from xir.target import Target

from .support import Placement, place


@dataclass
class Group:
    gid: int
    device: str
    ops: list[xir.Op] = field(default_factory=list)


def partition(g: xir.Graph, t: Target, generated: frozenset[str],
              overrides: dict[str, Placement] | None = None) -> tuple[list[Group], dict[str, Placement]]:
    """Groups of ops per device; ``overrides`` fixes the placement of named ops (e.g. NOT_TILED)."""
    order = g.toposort()
    overrides = overrides or {}
    where = {op.get_name(): overrides.get(op.get_name()) or place(op, t, generated)
             for op in order if op.get_type() not in ("const-fix", "const")}
    # constants follow their first reader
    for op in order:
        if op.get_type() in ("const-fix", "const"):
            users = op.get_fanout_ops()
            where[op.get_name()] = where[users[0].get_name()] if users else Placement("CPU", "UNUSED", "unused constant")
    groups: list[Group] = []
    group_of: dict[str, Group] = {}
    upstream: dict[str, set[int]] = {}     # groups an op depends on through any path
    consts = [op for op in order if op.get_type() in ("const-fix", "const")]
    for op in order:
        if op.get_type() in ("const-fix", "const"):
            continue
        dev = where[op.get_name()].device
        ins = [i for i in op.inputs if i.get_type() not in ("const-fix", "const")]
        up = set()
        for i in ins:
            up |= upstream[i.get_name()] | {group_of[i.get_name()].gid}
        chosen = None
        if dev != "USER":
            for i in ins:
                cand = group_of[i.get_name()]
                if cand.device != dev:
                    continue
                # joining is safe when no other input reaches cand's subgraph through another subgraph
                if all(group_of[j.get_name()] is cand or cand.gid not in upstream[j.get_name()] | {group_of[j.get_name()].gid}
                       for j in ins):
                    chosen = cand
                    break
        if chosen is None:
            chosen = Group(len(groups), dev)
            groups.append(chosen)
        chosen.ops.append(op)
        group_of[op.get_name()] = chosen
        upstream[op.get_name()] = up - {chosen.gid}
    groups = _merge_siblings(groups, group_of, order)
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


def _merge_siblings(groups: list[Group], group_of: dict[str, Group], order: list[xir.Op]) -> list[Group]:
    """Merge groups of one device (USER excepted) while merging creates no cycle: ``a`` and ``b`` may
    merge unless a path leaves one of them through another group and reaches the other."""
    def edges() -> dict[int, set[int]]:
        out: dict[int, set[int]] = {grp.gid: set() for grp in groups}
        for op in order:
            if op.get_type() in ("const-fix", "const"):
                continue
            dst = group_of[op.get_name()].gid
            for i in op.inputs:
                if i.get_type() in ("const-fix", "const"):
                    continue
                src = group_of[i.get_name()].gid
                if src != dst:
                    out[src].add(dst)
        return out

    def reach(succ: dict[int, set[int]], start: int) -> set[int]:
        seen, todo = set(), list(succ[start])
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(succ[n])
        return seen

    pos = {op.get_name(): i for i, op in enumerate(order)}
    merged = True
    while merged:
        merged = False
        succ = edges()
        far = {gid: reach(succ, gid) for gid in succ}

        def through_other(x: int, y: int) -> bool:     # a path x -> c -> ... -> y with c != y
            return any(c != y and y in far[c] for c in succ[x])

        for a in groups:
            if a.device == "USER":
                continue
            for b in groups:
                if b is a or b.device != a.device or through_other(a.gid, b.gid) or through_other(b.gid, a.gid):
                    continue
                keep, gone = (a, b) if a.gid < b.gid else (b, a)
                keep.ops = sorted(keep.ops + gone.ops, key=lambda o: pos[o.get_name()])
                for op in gone.ops:
                    group_of[op.get_name()] = keep
                groups = [grp for grp in groups if grp is not gone]
                merged = True
                break
            if merged:
                break
    return groups
