"""Write a compile result: ``<net>.xmodel``, ``meta.json`` and ``md5sum.txt`` (docs/vaic.md, docs/xmodel.md).

Rules: each DPU subgraph carries ``device``, ``dpu_name``, ``dpu_fingerprint`` (uint64), ``isa``,
``mc_code`` (the encoded instruction stream), ``mc_code_layers`` + ``mc_code_layer_index`` (which
layer each instruction serves), ``input_ddr``/``output_ddr`` (interface tensor -> reg, address, fix
point), the DDR register maps (``reg_id_to_context_type``,
``reg_id_to_context_type_v2``, ``reg_id_to_size``, ``reg_id_to_parameter_value``), ``workload`` and
``workload_on_arch``; its tensors carry ``reg_id``, ``ddr_addr``, ``location``, ``stride``. The graph
carries the target (``target``, ``dpu_fingerprint`` and the full description as ``arch_json``, so a
runner emulates exactly the machine the model was compiled for). A DPU subgraph's parameters are
stored once, in ``reg_id_to_parameter_value``: its ``const``/``const-fix`` ops keep shape, type and
fix point but leave out ``data`` in the file (the in-memory graph keeps it). All three files are written into a staging directory and moved into the output
directory together (``xir.files.Staging``: all or nothing, a failure leaves the directory as it was).
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from xir.files import Staging
from xir.isa import encode

from .backend.program import CONTEXT, DpuProgram
from .errors import CompilerBug, VaicError
from .gcscope import young_objects_only


def annotate(result) -> None:
    """Attach the backend's programs to the DPU subgraphs of the compiled graph."""
    t = result.target
    g = result.graph
    g.set_attr("target", t.name)
    g.set_attr("arch_json", json.dumps(t.to_dict(), sort_keys=True))
    g.set_attr("dpu_fingerprint", t.fingerprint, "uint64")
    if t.board:
        g.set_attr("board", t.board)
    for sg in result.dpu_subgraphs:
        prog: DpuProgram | None = result.programs.get(sg.get_name())
        if prog is None:
            raise CompilerBug(f"DPU subgraph {sg.get_name()} has no generated program")
        sg.set_attr("dpu_name", t.name)
        sg.set_attr("dpu_fingerprint", t.fingerprint, "uint64")
        sg.set_attr("isa", t.isa)
        sg.set_attr("mc_code", prog.mc_code or encode(prog.instructions, t.isa))
        names = sorted({i.layer or "" for i in prog.instructions})
        index = {n: k for k, n in enumerate(names)}
        sg.set_attr("mc_code_layers", names, "string[]")
        sg.set_attr("mc_code_layer_index", [index[i.layer or ""] for i in prog.instructions], "int32[]")
        regs = {f"REG_{r}": n for r, n in sorted(prog.reg_sizes.items())}
        sg.set_attr("reg_id_to_size", regs, "map<string,int32>")
        sg.set_attr("reg_id_to_context_type", {k: ("CONST" if CONTEXT[int(k[4:])] == "CONST" else "DATA")
                                               for k in regs}, "map<string,string>")
        sg.set_attr("reg_id_to_context_type_v2", {k: CONTEXT[int(k[4:])] for k in regs}, "map<string,string>")
        sg.set_attr("reg_id_to_parameter_value", {"REG_0": prog.const_data}, "map<string,bytes>")
        for layer in prog.layers:  # per-layer figures on the layer's op (vaic inspect, profilers)
            if g.has_op(layer.name):
                op = g.get_op(layer.name)
                op.set_attr("workload", int(layer.workload), "uint64")
                op.set_attr("workload_on_arch", int(layer.workload_on_arch), "uint64")
        sg.set_attr("workload", sum(layer.workload for layer in prog.layers), "uint64")
        sg.set_attr("workload_on_arch", sum(layer.workload_on_arch for layer in prog.layers), "uint64")
        sg.set_attr("input_tensors", [p.name for p in prog.inputs], "string[]")
        sg.set_attr("output_tensors", [p.name for p in prog.outputs], "string[]")
        # interface placement: tensor -> [reg_id, ddr_addr, fix_point] (what a runner reads and writes)
        sg.set_attr("input_ddr", {p.name: [p.reg_id, p.ddr_addr, p.fix_point] for p in prog.inputs},
                    "map<string,int32[]>")
        sg.set_attr("output_ddr", {p.name: [p.reg_id, p.ddr_addr, p.fix_point] for p in prog.outputs},
                    "map<string,int32[]>")


@contextmanager
def _parameters_once(result):
    """Leave out the ``data`` of the constants inside DPU subgraphs while the graph is serialized
    (their bytes are in the subgraph's parameter register), then put it back."""
    taken = []
    for sg in result.dpu_subgraphs:
        for op in sg.get_ops():
            if op.get_type() in ("const", "const-fix") and op.has_attr("data"):
                taken.append((op, op.get_attr_type("data"), op.get_attr("data")))
                op.del_attr("data")
    try:
        yield
    finally:
        for op, atype, value in taken:
            op.set_attr("data", value, atype)


def write_outputs(result, out_dir, net_name: str) -> dict[str, Path]:
    with young_objects_only():
        return _write_outputs(result, out_dir, net_name)


#: longest net name: ``<net>.xmodel`` must stay a file name every file system takes (255 bytes)
NET_NAME_MAX = 200


def check_net_name(net_name) -> str:
    """Rule: the net name is a plain file name inside the output directory: not empty, no path
    separator or NUL, not starting with a dot (no hidden ``..xmodel``, no ``..``), at most
    NET_NAME_MAX bytes in UTF-8."""
    name = str(net_name)
    if not name or "/" in name or "\\" in name or "\0" in name or name.startswith("."):
        raise VaicError(f"net name {name!r} must be a plain file name (no '/', no leading '.'), "
                        "e.g. -n resnet50")
    if len(name.encode("utf-8", "surrogateescape")) > NET_NAME_MAX:
        raise VaicError(f"net name of {len(name)} characters is longer than {NET_NAME_MAX}; choose a shorter -n")
    return name


def _write_outputs(result, out_dir, net_name: str) -> dict[str, Path]:
    net_name = check_net_name(net_name)
    out_dir = Path(out_dir)
    annotate(result)
    result.graph.validate()
    with _parameters_once(result):
        data = result.graph.to_bytes()
    meta = {"lib": {"DPU": "vairun (emulated DPU)"}, "filename": f"{net_name}.xmodel",
            "kernel": [s.get_name() for s in result.dpu_subgraphs], "target": result.target.name}
    with Staging(out_dir) as stage:
        try:
            # hashing and writing both release the GIL: the md5 is computed while the bytes are written
            with ThreadPoolExecutor(max_workers=1) as pool:
                digest = pool.submit(lambda: hashlib.md5(data).hexdigest())
                (stage.path / f"{net_name}.xmodel").write_bytes(data)
                md5 = digest.result()
            (stage.path / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
            (stage.path / "md5sum.txt").write_text(md5 + "\n")
            for f in stage.path.iterdir():
                os.chmod(f, 0o644)
        except OSError as e:
            raise VaicError(f"{out_dir}: cannot write the compiled model: {e.strerror or e}") from None
        return {p.name: p for p in stage.commit()}
