"""A self-contained HTML profile: the engine timeline and per-layer bars as SVG, no network.

Rule: one file with inline CSS and SVG only (no scripts fetched, no fonts loaded); the timeline draws
each engine as a lane and each layer's busy intervals on it in the layer's colour (consecutive
instructions of one layer merge into one bar, so ResNet-size streams stay light).
"""
from __future__ import annotations

import html


ENGINES = ("LOAD", "CONV", "MISC", "SAVE")
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")


def _merge(events, gap: int):
    """Per (engine, layer): merge intervals closer than ``gap`` cycles."""
    out: dict[tuple[str, str], list[list[int]]] = {}
    for e in sorted(events, key=lambda e: (e.engine, e.start)):
        if e.engine == "-":
            continue
        lst = out.setdefault((e.engine, e.layer), [])
        if lst and e.start - lst[-1][1] <= gap:
            lst[-1][1] = max(lst[-1][1], e.end)
        else:
            lst.append([e.start, e.end])
    return out


def render(profile, title: str) -> str:
    cycles = max(profile.cycles, 1)
    width, lane_h, left = 1100, 26, 70
    scale = (width - left - 10) / cycles
    layers = [l.name for l in profile.layers]
    color = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(layers)}
    merged = _merge(profile.events, gap=max(1, int(cycles / 2000)))
    svg = [f'<svg width="{width}" height="{lane_h * len(ENGINES) + 30}" xmlns="http://www.w3.org/2000/svg">']
    for i, eng in enumerate(ENGINES):
        y = 10 + i * lane_h
        svg.append(f'<text x="4" y="{y + 17}" font-size="12">{eng}</text>')
        svg.append(f'<rect x="{left}" y="{y}" width="{width - left - 10}" height="{lane_h - 4}" fill="#f3f3f3"/>')
        for (e, layer), spans in merged.items():
            if e != eng:
                continue
            for s, t in spans:
                w = max((t - s) * scale, 0.6)
                svg.append(f'<rect x="{left + s * scale:.2f}" y="{y}" width="{w:.2f}" height="{lane_h - 4}" '
                           f'fill="{color.get(layer, "#888")}"><title>{html.escape(layer)}: {s}-{t}</title></rect>')
    y = 10 + len(ENGINES) * lane_h + 14
    svg.append(f'<text x="{left}" y="{y}" font-size="11">0</text>'
               f'<text x="{width - 90}" y="{y}" font-size="11">{cycles} cycles</text></svg>')
    top = max((l.cycles for l in profile.layers), default=1) or 1
    bars = []
    for l in profile.layers:
        pct = 100 * l.cycles / top
        bars.append(f'<tr><td>{html.escape(l.name)}</td><td class="num">{l.cycles}</td>'
                    f'<td class="num">{l.ops_per_cycle():.0f}</td><td class="num">{l.ddr_bytes / 1024:.1f}</td>'
                    f'<td><div class="bar" style="width:{pct:.1f}%;background:{color[l.name]}"></div></td></tr>')
    util = " ".join(f"{k} {v * 100:.0f}%" for k, v in profile.utilization.items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:20px;color:#222}} table{{border-collapse:collapse;width:100%}}
td,th{{padding:2px 6px;border-bottom:1px solid #eee;font-size:12px}} .num{{text-align:right}}
.bar{{height:12px}} td:last-child{{width:45%}}</style></head><body>
<h2>{html.escape(title)}</h2>
<p>{html.escape(profile.target)} at {profile.clock_mhz:g} MHz: <b>{profile.cycles}</b> cycles,
<b>{profile.latency_ms:.3f} ms</b> latency, <b>{profile.fps:.1f}</b> frames/s;
{2 * profile.macs / 1e9:.3f} GOP, {2 * profile.macs / max(profile.cycles, 1):.0f} of
{profile.peak_ops_per_cycle} peak ops/cycle; engine utilisation {util}</p>
<h3>Engine timeline</h3>{''.join(svg)}
<h3>Layers</h3><table><tr><th>layer</th><th>cycles</th><th>ops/cycle</th><th>DDR KiB</th><th></th></tr>
{''.join(bars)}</table></body></html>
"""
