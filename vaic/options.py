"""``--options '<json>'`` of vai_c_xir: the keys the compiler understands.

Rules: ``input_shape`` ("1,224,224,3", NHWC, several inputs separated by ';') must equal the model's
input dims; ``output_ops`` ("a,b") names ops that become the graph's outputs, everything computed
only for other ops is dropped (a name that does not exist is an error); ``prefetch`` is accepted and
has no effect (the emulator has no prefetch unit). Any other key is an error naming it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import xir

from .errors import VaicError

KNOWN = ("input_shape", "output_ops", "prefetch")
EXAMPLE = {"input_shape": "1,224,224,3", "output_ops": "fc_fix"}


@dataclass
class CompileOptions:
    input_shape: str | None = None
    output_ops: str | None = None
    prefetch: bool = False
    #: merge subgraphs of one device that no path connects (Python API only: False for a caller whose
    #: graph inputs depend on its outputs outside the graph, as wego_torch's do)
    merge_independent: bool = True


def parse_options(text: str | None) -> CompileOptions:
    if not text:
        return CompileOptions()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise VaicError(f"--options is not valid JSON: {e.msg} at column {e.colno}") from None
    if not isinstance(data, dict):
        raise VaicError("--options must be a JSON object such as '{\"input_shape\": \"1,224,224,3\"}'")
    bad = sorted(set(data) - set(KNOWN))
    if bad:
        raise VaicError(f"--options has unknown key(s) {bad}; known: {list(KNOWN)}")
    for key in ("input_shape", "output_ops"):
        if key in data and not isinstance(data[key], str):
            raise VaicError(f"--options {key} must be a string such as {EXAMPLE[key]!r}, got {data[key]!r}")
    if "output_ops" in data and not [n for n in data["output_ops"].split(",") if n.strip()]:
        raise VaicError(f"--options output_ops names no op; give op names such as {EXAMPLE['output_ops']!r}")
    if not isinstance(data.get("prefetch", False), bool):
        raise VaicError(f"--options prefetch must be true or false, got {data['prefetch']!r}")
    return CompileOptions(input_shape=data.get("input_shape"), output_ops=data.get("output_ops"),
                          prefetch=data.get("prefetch", False))


def apply_options(g: xir.Graph, opts: CompileOptions) -> list[str]:
    log = []
    if opts.input_shape:
        inputs = [o for o in g.toposort() if o.get_type() in ("data-fix", "data")]
        shapes = [s for s in str(opts.input_shape).split(";") if s.strip()]
        if len(shapes) != len(inputs):
            raise VaicError(f"input_shape gives {len(shapes)} shape(s) but the model has {len(inputs)} input(s)")
        for op, s in zip(inputs, shapes):
            try:
                want = [int(v) for v in s.replace(" ", "").split(",")]
            except ValueError:
                raise VaicError(f"input_shape '{s}' is not a comma-separated list of integers") from None
            have = op.get_output_tensor().dims
            if want != have:
                raise VaicError(f"input_shape {want} does not match input '{op.get_name()}' of the model, "
                                f"which is {have} (NHWC); re-quantize with that input shape")
        log.append(f"options: input_shape checked ({opts.input_shape})")
    if opts.output_ops:
        names = [n.strip() for n in str(opts.output_ops).split(",") if n.strip()]
        for n in names:
            if not g.has_op(n):
                raise VaicError(f"output_ops names '{n}', which is not an op of the model")
            kind = g.get_op(n).get_type()
            if kind in ("const", "const-fix", "data", "data-fix"):
                what = "a constant (weights or biases)" if kind.startswith("const") else "a model input"
                raise VaicError(f"output_ops names '{n}', {what}; name ops that compute values")
        keep: set[str] = set()
        stack = [g.get_op(n) for n in names]
        while stack:
            op = stack.pop()
            if op.get_name() in keep:
                continue
            keep.add(op.get_name())
            stack.extend(op.inputs)
        for op in reversed(g.toposort()):
            if op.get_name() not in keep:
                for u in op.get_fanout_ops():
                    if u.get_name() in keep:
                        break
                else:
                    g.remove_op(op)
        g.declare_outputs(names)
        log.append(f"options: outputs set to {names}; {len(keep)} ops kept")
    return log
