"""A picture of a graph whose nodes are coloured by device (the Inspector's image).

Rule: nodes are laid out in layers by topological depth (a node sits one layer below its deepest
input), top to bottom; within a layer they are ordered by the mean position of their inputs and
pushed apart to a fixed spacing, so chains run straight and branches sit side by side; every node is
a box with its name and op (the reason for its device in the box's tooltip), green on the DPU,
orange on the CPU, grey for graph inputs. SVG needs no dependency; PNG rasterizes that SVG with the
optional extra ``png`` (resvg-py).
"""
from __future__ import annotations

from xml.sax.saxutils import escape

from .errors import VaiqError

BOX_W, BOX_H, GAP_X, STEP_Y, MARGIN, HEAD = 200, 38, 30, 72, 40, 70
COLOURS = {"DPU": "#9ed89e", "CPU": "#f6b38a", "-": "#d9d9d9"}
LEGEND = (("DPU", "DPU"), ("CPU", "CPU (float)"), ("-", "graph input"))


def layout(rows: list[dict]) -> dict[str, tuple[float, int]]:
    """Position (x centre, layer) of every node of ``rows`` (module rule)."""
    depth: dict[str, int] = {}
    for r in rows:
        depth[r["name"]] = 1 + max((depth[i] for i in r["inputs"] if i in depth), default=-1)
    layers: dict[int, list[str]] = {}
    for r in rows:
        layers.setdefault(depth[r["name"]], []).append(r["name"])
    preds = {r["name"]: [i for i in r["inputs"] if i in depth] for r in rows}
    step = BOX_W + GAP_X
    x: dict[str, float] = {}
    for d in sorted(layers):
        names = layers[d]
        want = {n: (sum(x[p] for p in preds[n]) / len(preds[n]) if preds[n] else k * step)
                for k, n in enumerate(names)}
        order = sorted(names, key=lambda n: want[n])
        placed: list[float] = []
        for n in order:
            placed.append(want[n] if not placed else max(want[n], placed[-1] + step))
        shift = sum(want[n] for n in order) / len(order) - sum(placed) / len(placed)
        for n, px in zip(order, placed):
            x[n] = px + shift
    return {n: (x[n], depth[n]) for n in depth}


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def graph_svg(rows: list[dict], title: str = "") -> str:
    """The SVG document of ``rows`` (vaiq.cli_inspect.inspect_rows with a target)."""
    pos = layout(rows)
    xs = [p[0] for p in pos.values()] or [0.0]
    x0 = min(xs) - BOX_W / 2 - MARGIN
    width = max(xs) - min(xs) + BOX_W + 2 * MARGIN
    layers = max((p[1] for p in pos.values()), default=0) + 1
    height = HEAD + layers * STEP_Y + MARGIN
    width = max(width, 520)

    def at(name):
        cx, layer = pos[name]
        return cx - x0, HEAD + layer * STEP_Y

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
           f'<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{MARGIN}" y="24" font-size="16" font-weight="bold">{escape(title)}</text>']
    for k, (dev, label) in enumerate(LEGEND):
        lx = MARGIN + k * 150
        out.append(f'<rect x="{lx}" y="36" width="18" height="14" fill="{COLOURS[dev]}" stroke="#333"/>'
                   f'<text x="{lx + 24}" y="48" font-size="12">{label}</text>')
    edges, boxes = [], []
    for r in rows:
        cx, top = at(r["name"])
        for i in r["inputs"]:
            if i not in pos:
                continue
            sx, sy = at(i)
            sy += BOX_H
            mid = (sy + top) / 2
            edges.append(f'<path d="M {sx:.1f} {sy:.1f} C {sx:.1f} {mid:.1f} {cx:.1f} {mid:.1f} {cx:.1f} {top:.1f}" '
                         f'fill="none" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>')
        dev = r.get("device", "-")
        tip = f'{r["name"]} ({r["kind"]}): {dev}, {r.get("device_reason", "")}'
        shape = "x".join(str(d) for d in r.get("shape", []))
        boxes.append(
            f'<g><title>{escape(tip)}</title>'
            f'<rect x="{cx - BOX_W / 2:.1f}" y="{top:.1f}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{COLOURS.get(dev, COLOURS["-"])}" stroke="#333"/>'
            f'<text x="{cx:.1f}" y="{top + 16:.1f}" font-size="12" text-anchor="middle">{escape(_short(r["name"], 28))}</text>'
            f'<text x="{cx:.1f}" y="{top + 31:.1f}" font-size="10" text-anchor="middle" fill="#333">'
            f'{escape(_short(r["kind"] + (" " + shape if shape else ""), 34))}</text></g>')
    out += edges + boxes + ["</svg>"]
    return "\n".join(out) + "\n"


def svg_to_png(svg: str) -> bytes:
    """Rasterize an SVG document with the optional extra ``png`` (resvg-py)."""
    try:
        import resvg_py
    except ImportError:
        raise VaiqError("image_format='png' needs the optional extra 'png': pip install 'vitis-ai-py[png]' "
                        "(resvg-py); image_format='svg' needs nothing") from None
    return bytes(resvg_py.svg_to_bytes(svg_string=svg))
