"""A picture of a graph whose nodes are coloured by device (the Inspector's image).

Rule: nodes are laid out in layers by topological depth (a node sits one layer below its deepest
input), top to bottom; within a layer they are ordered by the mean position of their inputs and
pushed apart to a fixed spacing, so chains run straight and branches sit side by side; every node is
a box with its name and op (on the CPU with the reason code; the whole reason in the box's
tooltip), green on the DPU, orange on the CPU, grey for graph inputs; an edge that crosses layers
runs in a lane of its own beside the boxes. SVG needs no dependency; PNG rasterizes that SVG with the
optional extra ``png`` (resvg-py).
"""
from __future__ import annotations

from xml.sax.saxutils import escape

from xir.target.reasons import split_reason

from .errors import VaiqError

BOX_W, BOX_H, GAP_X, STEP_Y, MARGIN, HEAD, LANE_W = 200, 38, 30, 72, 40, 70, 4
FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"
COLOURS = {"DPU": "#9ed89e", "CPU": "#f6b38a", "-": "#d9d9d9"}
LEGEND = (("DPU", "DPU"), ("CPU", "CPU (float)"), ("-", "graph input"))


def layout(rows: list[dict]) -> tuple[dict[str, tuple[float, int]], dict[tuple[str, str], list[float]]]:
    """Positions (x centre, layer) of the nodes of ``rows`` and, for each edge spanning several
    layers, the x of its lane in every layer it crosses (module rule: such an edge gets a lane of its
    own in each layer it crosses, ordered with the nodes, so it never runs through a box)."""
    depth: dict[str, int] = {}
    for r in rows:
        depth[r["name"]] = 1 + max((depth[i] for i in r["inputs"] if i in depth), default=-1)
    layers: dict[int, list[tuple]] = {}
    preds: dict[tuple, list[tuple]] = {}
    lanes: dict[tuple[str, str], list[tuple]] = {}
    for r in rows:
        node = ("n", r["name"])
        layers.setdefault(depth[r["name"]], []).append(node)
        preds[node] = []
        for i in dict.fromkeys(r["inputs"]):
            if i not in depth:
                continue
            prev = ("n", i)
            lanes[(i, r["name"])] = []
            for d in range(depth[i] + 1, depth[r["name"]]):
                lane = ("e", i, r["name"], d)
                layers.setdefault(d, []).append(lane)
                preds[lane] = [prev]
                lanes[(i, r["name"])].append(lane)
                prev = lane
            preds[node].append(prev)
    width = {k: (BOX_W if k[0] == "n" else LANE_W) for k in preds}
    x: dict[tuple, float] = {}
    for d in sorted(layers):
        items = layers[d]
        want = {k: (sum(x[p] for p in preds[k]) / len(preds[k]) if preds[k] else j * (BOX_W + GAP_X))
                for j, k in enumerate(items)}
        order = sorted(items, key=lambda k: (want[k], k[0] == "e"))
        placed: list[float] = []
        for j, k in enumerate(order):
            lo = placed[-1] + (width[order[j - 1]] + width[k]) / 2 + GAP_X if placed else want[k]
            placed.append(max(want[k], lo))
        shift = sum(want[k] for k in order) / len(order) - sum(placed) / len(placed)
        for k, px in zip(order, placed):
            x[k] = px + shift
    pos = {k[1]: (x[k], depth[k[1]]) for k in x if k[0] == "n"}
    return pos, {e: [x[k] for k in ks] for e, ks in lanes.items()}


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def graph_svg(rows: list[dict], title: str = "") -> str:
    """The SVG document of ``rows`` (vaiq.cli_inspect.inspect_rows with a target)."""
    pos, lanes = layout(rows)
    xs = [p[0] for p in pos.values()] + [v for ls in lanes.values() for v in ls] or [0.0]
    x0 = min(xs) - BOX_W / 2 - MARGIN
    width = max(xs) - min(xs) + BOX_W + 2 * MARGIN
    layers = max((p[1] for p in pos.values()), default=0) + 1
    height = HEAD + layers * STEP_Y + MARGIN
    width = max(width, 520)

    def at(name):
        cx, layer = pos[name]
        return cx - x0, HEAD + layer * STEP_Y

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{MARGIN}" y="24" font-size="16" font-weight="bold">{escape(title)}</text>']
    for k, (dev, label) in enumerate(LEGEND):
        lx = MARGIN + k * 150
        out.append(f'<rect x="{lx}" y="36" width="18" height="14" fill="{COLOURS[dev]}" stroke="#333"/>'
                   f'<text x="{lx + 24}" y="48" font-size="12">{label}</text>')
    edges, boxes = [], []
    for r in rows:
        cx, top = at(r["name"])
        for i in dict.fromkeys(r["inputs"]):
            if i not in pos:
                continue
            sx, sy = at(i)
            pts = [(sx, sy + BOX_H)]
            for k, lx in enumerate(lanes[(i, r["name"])]):   # straight down through each crossed layer
                ly = HEAD + (pos[i][1] + 1 + k) * STEP_Y
                pts += [(lx - x0, ly), (lx - x0, ly + BOX_H)]
            pts.append((cx, top))
            d = f"M {pts[0][0]:.1f} {pts[0][1]:.1f}"
            for (ax, ay), (bx, by) in zip(pts, pts[1:]):
                mid = (ay + by) / 2
                d += (f" L {bx:.1f} {by:.1f}" if ax == bx else
                      f" C {ax:.1f} {mid:.1f} {bx:.1f} {mid:.1f} {bx:.1f} {by:.1f}")
            edges.append(f'<path d="{d}" fill="none" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>')
        dev = r.get("device", "-")
        tip = f'{r["name"]} ({r["kind"]}{", " + r["scope"] if r.get("scope") else ""}): {dev}, {r.get("device_reason", "")}'
        shape = "x".join(str(d) for d in r.get("shape", []))
        second = r["kind"] + (f": {split_reason(r.get('device_reason', ''))[0]}" if dev == "CPU" else
                              (" " + shape if shape else ""))
        boxes.append(
            f'<g><title>{escape(tip)}</title>'
            f'<rect x="{cx - BOX_W / 2:.1f}" y="{top:.1f}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{COLOURS.get(dev, COLOURS["-"])}" stroke="#333"/>'
            f'<text x="{cx:.1f}" y="{top + 16:.1f}" font-size="12" text-anchor="middle">{escape(_short(r["name"], 28))}</text>'
            f'<text x="{cx:.1f}" y="{top + 31:.1f}" font-size="10" text-anchor="middle" fill="#333">'
            f'{escape(_short(second, 34))}</text></g>')
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
