"""The report of ``vaic sweep``: a rich table for the terminal and a self-contained HTML page (a bar
chart of latency per target as inline SVG, the table, and the failures), no scripts, no network."""
from __future__ import annotations

import html

COLUMNS = ("target", "DPU subgraphs", "CPU ops", "latency ms", "fps", "ops/cycle", "utilisation", "CONV busy")


def _cells(r: dict) -> list[str]:
    return [r["target"], str(r["dpu_subgraphs"]), str(r["cpu_ops"]), f"{r['latency_ms']:.3f}", f"{r['fps']:.1f}",
            f"{r['ops_per_cycle']:.0f}/{r['peak_ops_per_cycle']}", f"{r['utilization'] * 100:.1f}%",
            f"{r['conv_busy'] * 100:.1f}%"]


def print_table(rows: list[dict], title: str) -> None:
    from rich.console import Console
    from rich.table import Table
    c = Console()
    if not c.is_terminal:          # piped or captured: do not squeeze the table into 80 columns
        c = Console(width=160)
    t = Table(title=title)
    for col in COLUMNS:
        t.add_column(col, justify="left" if col == "target" else "right")
    for r in rows:
        if "error" not in r:
            t.add_row(*_cells(r))
    c.print(t)
    for r in rows:
        if "error" in r:
            c.print(f"[red]failed[/red] {r['target']}: {r['error']}", markup=True, highlight=False, soft_wrap=True)


def render_html(rows: list[dict], title: str) -> str:
    ok = [r for r in rows if "error" not in r]
    bad = [r for r in rows if "error" in r]
    width, bar_h, left = 900, 20, 260
    top = max((r["latency_ms"] for r in ok), default=1.0) or 1.0
    svg = [f'<svg width="{width}" height="{bar_h * len(ok) + 10}" xmlns="http://www.w3.org/2000/svg">']
    for i, r in enumerate(ok):
        y = 5 + i * bar_h
        w = max((width - left - 150) * r["latency_ms"] / top, 1.0)
        svg.append(f'<text x="{left - 6}" y="{y + 14}" font-size="12" text-anchor="end">{html.escape(r["target"])}</text>'
                   f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{bar_h - 5}" fill="#4e79a7">'
                   f'<title>{r["latency_ms"]:.3f} ms</title></rect>'
                   f'<text x="{left + w + 6:.1f}" y="{y + 14}" font-size="11">{r["latency_ms"]:.3f} ms, '
                   f'{r["fps"]:.0f} fps</text>')
    svg.append("</svg>")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r)) + "</tr>" for r in ok)
    fails = "".join(f"<li><b>{html.escape(r['target'])}</b>: {html.escape(r['error'])}</li>" for r in bad)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:20px;color:#222}} table{{border-collapse:collapse}}
td,th{{padding:2px 8px;border-bottom:1px solid #eee;font-size:12px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}</style></head><body>
<h2>{html.escape(title)}</h2>
<h3>Latency per target (fastest first)</h3>{''.join(svg)}
<h3>Targets</h3><table><tr>{head}</tr>{body}</table>
<h3>Failures ({len(bad)})</h3><ul>{fails or '<li>none</li>'}</ul></body></html>
"""
