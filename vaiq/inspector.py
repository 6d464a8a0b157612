"""``Inspector``: pytorch_nndct's hardware-aware inspection on vaiq.

    Inspector("DPUCZDX8G_ISA1_B4096").inspect(model, (x,), device=torch.device("cpu"),
                                            output_dir="quantize_result", image_format="svg")

Rule: the inspector captures the model as ``torch_quantizer(..., target=...)`` does (same stub
regions, same target-aware float decisions, vaiq.regions) and reports every node with the device
the target's rules give it and why (vaiq.cli_inspect, the rows and summary ``vaiq inspect --target``
prints), in ``<output_dir>/inspect_<target name>.txt``; with ``image_format`` "svg" or "png" also
``inspect_<target name>.<format>``: the graph laid out by topological depth, nodes coloured by
device (vaiq.graph_svg). Files are written atomically.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from xir.xmodel import write_atomic

from .api import torch_quantizer
from .cli_inspect import inspect_rows, summary
from .errors import VaiqError
from .graph_svg import graph_svg, svg_to_png

log = logging.getLogger("vaiq")

IMAGE_FORMATS = (None, "svg", "png")


class Inspector:
    """Which ops of a model a target's DPU runs, and why the others do not (pytorch_nndct's name)."""

    def __init__(self, name_or_fingerprint):
        if name_or_fingerprint is None or (isinstance(name_or_fingerprint, str) and not name_or_fingerprint.strip()):
            raise VaiqError("Inspector needs a target: a name such as DPUCZDX8G_ISA1_B4096, FAMILY/BOARD, "
                            "an arch.json path or a fingerprint 0x...")
        self.target = torch_quantizer._target(name_or_fingerprint)

    def inspect(self, module: torch.nn.Module, input_args, device=None, output_dir: str = "quantize_result",
                verbose_level: int = 1, image_format: str | None = None) -> Path:
        """Inspect ``module`` on the example ``input_args``; returns the path of the text report.
        ``verbose_level``: 0 prints nothing, 1 the placement summary, 2 the whole report."""
        if image_format not in IMAGE_FORMATS:
            raise VaiqError(f"image_format {image_format!r} is not one of None, 'svg', 'png'")
        if verbose_level not in (0, 1, 2):
            raise VaiqError(f"verbose_level {verbose_level!r} is not 0, 1 or 2")
        q = torch_quantizer("float", module, input_args, device=device, output_dir=output_dir,
                            target=self.target)
        rows = inspect_rows(q.graph, self.target, any_target=True)
        lines = summary(q.graph, rows)
        name = self.target.name
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        text = report_text(q.graph.name, self.target, rows, lines)
        image = None
        if image_format is not None:
            svg = graph_svg(rows, title=f"{q.graph.name} on {name}")
            image = out / f"inspect_{name}.{image_format}"
            write_atomic(image, svg.encode() if image_format == "svg" else svg_to_png(svg))
        path = out / f"inspect_{name}.txt"
        write_atomic(path, text.encode())
        self.rows, self.summary_lines = rows, lines
        if verbose_level >= 1:
            from rich.console import Console
            console = Console()
            for ln in (text.splitlines() if verbose_level == 2 else lines):
                console.print(ln, markup=False, highlight=False, soft_wrap=True)
            console.print(f"wrote {path}" + (f" and {image}" if image else ""), markup=False, highlight=False,
                          soft_wrap=True)
        return path


def report_text(model_name: str, target, rows: list[dict], lines: list[str]) -> str:
    """The text report: a header, one row per node (device and why), the placement summary."""
    cols = ("#", "node", "op", "scope", "device", "why")
    table = [cols] + [(str(i), r["name"], r["kind"], r["scope"] or "-", r["device"], r["device_reason"])
                      for i, r in enumerate(rows)]
    widths = [max(len(t[c]) for t in table) for c in range(len(cols) - 1)]
    body = ["  ".join(t[c].ljust(widths[c]) for c in range(len(cols) - 1)) + "  " + t[-1] for t in table]
    ops = [r for r in rows if r["device"] != "-"]
    head = [f"# model: {model_name}",
            f"# target: {target.name} (fingerprint {target.fingerprint_hex})"
            + ("" if target.compilable else "; quantization only, vaic does not compile for it"),
            f"# ops: {len(ops)}, on the DPU: {sum(r['device'] == 'DPU' for r in ops)}, "
            f"on the CPU: {sum(r['device'] == 'CPU' for r in ops)}", ""]
    return "\n".join(head + body + [""] + lines) + "\n"
