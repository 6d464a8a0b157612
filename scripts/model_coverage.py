#!/usr/bin/env python
"""Model coverage: for every zoo model x one target of every DPU family, how many DPU and CPU subgraphs
vaic makes and why each CPU op is there (reason codes, docs/vaic.md). Prints a table; --markdown writes
it as docs/coverage.md's body.

    python scripts/model_coverage.py                       # full-size zoo models, every family
    python scripts/model_coverage.py --tiny                # the tiny variants (quick)
    python scripts/model_coverage.py --markdown docs/coverage.md

Each model is quantized once on random calibration data (vaiq), then compiled (vaic) per target;
models whose activations have a DPU approximation are also run with the quant-config switches that
use it (marked "+hswish": convert_silu_to_hswish and convert_sigmoid_to_hsigmoid).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

FAMILIES = ["DPUCZDX8G/KV260", "DPUCAHX8H/U50", "DPUCADF8H/U250", "DPUCVDX8G/VCK190", "DPUCADX8G/U250"]
FULL = ["resnet18", "resnet50", "mobilenet_v2", "inception_v3", "squeezenet", "efficientnet_b0",
        "mobilenet_v3_small", "shufflenet_v2", "mnasnet", "regnet_x_400mf", "resnext50", "yolo_tiny", "unet"]
TINY = ["tiny_resnet", "tiny_mobilenet", "tiny_inception", "tiny_squeezenet", "tiny_efficientnet",
        "tiny_mobilenet_v3", "tiny_shufflenet", "tiny_mnasnet", "tiny_regnet", "tiny_resnext", "tiny_yolo",
        "tiny_unet", "leaky_net", "partial_net"]
#: models with sigmoid / SiLU get a second row with the hard-sigmoid approximations switched on
APPROX = {"efficientnet_b0", "tiny_efficientnet"}
APPROX_CONFIG = {"convert_silu_to_hswish": True, "convert_sigmoid_to_hsigmoid": True}


def coverage(model: str, key: str, xmodel: Path) -> dict:
    from vaic.pipeline import compile_graph
    from xir.target.reasons import split_reason
    res = compile_graph(xmodel, key)
    reasons: Counter = Counter()
    g = res.graph
    for sg in res.subgraphs:
        if sg.get_attr("device") != "CPU":
            continue
        for op, why in sg.get_attr("cpu_reasons").items():
            kind = g.get_op(op).get_type()
            if kind not in ("fix2float", "float2fix"):
                reasons[f"{split_reason(why)[0]} ({kind})"] += 1
    return {"model": model, "target": key, "dpu": len(res.dpu_subgraphs),
            "cpu": sum(sg.get_attr("device") == "CPU" for sg in res.subgraphs),
            "cpu_ops": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="the tiny zoo variants instead of the full-size models")
    ap.add_argument("--models", nargs="*", help="zoo model names (default: the zoo's image models)")
    ap.add_argument("--targets", nargs="*", default=FAMILIES, help="FAMILY/BOARD names")
    ap.add_argument("--markdown", type=Path, help="write the table as Markdown to this file")
    ap.add_argument("--json", type=Path, help="write the rows as JSON to this file")
    args = ap.parse_args(argv)
    from zoo_quantize import quantized_xmodel
    models = args.models or (TINY if args.tiny else FULL)
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="coverage_") as tmp:
        cfg = Path(tmp) / "approx.json"
        cfg.write_text(json.dumps(APPROX_CONFIG))
        for model in models:
            variants = [(model, None)] + ([(f"{model} +hswish", cfg)] if model in APPROX else [])
            for label, config in variants:
                folder = Path(tmp) / label.replace(" ", "_").replace("+", "")
                try:
                    xmodel = quantized_xmodel(model, folder, calib_batch=1, quant_config_file=config)
                except Exception as e:                     # report and go on: this is a survey
                    rows += [{"model": label, "target": key, "error": f"vaiq: {type(e).__name__}: {e}"}
                             for key in args.targets]
                    continue
                for key in args.targets:
                    try:
                        row = coverage(label, key, xmodel)
                    except Exception as e:
                        row = {"model": label, "target": key, "error": f"vaic: {type(e).__name__}: {e}"}
                    rows.append(row)
                    print(_line(row), flush=True)
    seconds = time.perf_counter() - t0
    table = _markdown(rows, args.tiny, seconds)
    print()
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


def _cpu_text(row: dict) -> str:
    if "error" in row:
        return "error: " + row["error"].splitlines()[0][:160]
    return ", ".join(f"{k} x{n}" for k, n in row["cpu_ops"].items()) or "-"


def _line(row: dict) -> str:
    if "error" in row:
        return f"{row['model']:<28} {row['target']:<18} {_cpu_text(row)}"
    return f"{row['model']:<28} {row['target']:<18} DPU {row['dpu']:>2}  CPU {row['cpu']:>2}  {_cpu_text(row)}"


def _markdown(rows: list[dict], tiny: bool, seconds: float) -> str:
    out = [f"| model | target | DPU subgraphs | CPU subgraphs | CPU ops (reason code (op type) x count) |",
           "|---|---|---|---|---|"]
    for r in rows:
        dpu = "" if "error" in r else str(r["dpu"])
        cpu = "" if "error" in r else str(r["cpu"])
        out.append(f"| {r['model']} | {r['target']} | {dpu} | {cpu} | {_cpu_text(r)} |")
    out.append("")
    out.append(f"({'tiny' if tiny else 'full-size'} models, random calibration data; {seconds:.0f} s; "
               "`python scripts/model_coverage.py" + (" --tiny" if tiny else "") + "`)")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
