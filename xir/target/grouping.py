"""How placed ops become subgraphs: the rule vaic's partitioner applies and ``vaiq inspect --target``
estimates with.

Rule: ops of one device are merged into as few subgraphs as possible without a cycle between
subgraphs (a path leaving a subgraph and coming back into it):
1. in topological order an op joins a subgraph of its device that feeds it, unless another of its
   inputs is reached from that subgraph through a different subgraph; else it starts a new one;
2. then two subgraphs of one device are merged while no path leads from one to the other through a
   third (sibling branches, e.g. two convs of the network input, become one).
``USER`` ops (the network inputs) each stay alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Group:
    gid: int
    device: str
    members: list[str] = field(default_factory=list)


def device_groups(order: list[str], device: dict[str, str], preds: dict[str, list[str]],
                  merge_siblings: bool = True) -> list[Group]:
    """Groups of op names (each in topological order) for ``order`` (topological), the device of
    each op and its producers (constants left out). ``merge_siblings=False`` skips step 2, for a
    caller whose graph inputs may depend on its outputs outside the graph (wego_torch feeds ops it runs
    in torch back in as inputs), where two unconnected subgraphs may not be independent."""
    groups: list[Group] = []
    group_of: dict[str, Group] = {}
    upstream: dict[str, set[int]] = {}     # groups an op depends on through any path
    for name in order:
        dev = device[name]
        ins = preds[name]
        up: set[int] = set()
        for i in ins:
            up |= upstream[i] | {group_of[i].gid}
        chosen = None
        if dev != "USER":
            for i in ins:
                cand = group_of[i]
                if cand.device != dev:
                    continue
                if all(group_of[j] is cand or cand.gid not in upstream[j] | {group_of[j].gid} for j in ins):
                    chosen = cand
                    break
        if chosen is None:
            chosen = Group(len(groups), dev)
            groups.append(chosen)
        chosen.members.append(name)
        group_of[name] = chosen
        upstream[name] = up - {chosen.gid}
    return _merge_siblings(groups, group_of, order, preds) if merge_siblings else groups


def _merge_siblings(groups: list[Group], group_of: dict[str, Group], order: list[str],
                    preds: dict[str, list[str]]) -> list[Group]:
    pos = {name: i for i, name in enumerate(order)}

    def edges() -> dict[int, set[int]]:
        out: dict[int, set[int]] = {grp.gid: set() for grp in groups}
        for name in order:
            dst = group_of[name].gid
            for i in preds[name]:
                src = group_of[i].gid
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
                keep.members = sorted(keep.members + gone.members, key=pos.__getitem__)
                for name in gone.members:
                    group_of[name] = keep
                groups = [grp for grp in groups if grp is not gone]
                merged = True
                break
            if merged:
                break
    return groups


def count_dpu_subgraphs(order: list[str], device: dict[str, str], preds: dict[str, list[str]]) -> int:
    return sum(g.device == "DPU" for g in device_groups(order, device, preds))
