"""A seeded fuzz corpus for the command lines: valid artifacts, mutated the ways hostile or unlucky users
mutate them, run through the CLIs' entry points in-process, each outcome classified.

Classes (``CLASSES``), each a generator of cases from a seed:
- ``xmodel-bytes``: the compiled model's bytes truncated, flipped, extended (md5sum.txt left as it was, or
  removed: then semantic, since flipped weight bytes are another valid model);
- ``xmodel-attr``: one DPU subgraph attribute re-typed or re-valued, md5sum.txt re-made to match;
- ``xmodel-field``: one field of one instruction set to another value its slot can hold, md5sum.txt re-made
  (a *semantic* class: the result is another valid program's, so exit 0 may change the output);
- ``xmodel-param``: bytes of the parameter register changed, length kept, md5sum.txt re-made (semantic);
- ``npy``: the input array's header or data mutated;
- ``arch-json``: the target description re-typed, re-valued, keys dropped or added, bytes garbled;
- ``quant-info``: quant_info.json entries re-typed or out of range (``vaiq test``);
- ``vaic-options``: ``--options`` JSON of wrong shape, type or content; ``vaic-deploy``: the quantized model
  handed to vaic mutated like ``xmodel-attr`` on its ops; ``vaic-sweep``: its target lists, arch files and
  report paths.

Outcome rules (``check``): never exit 1, never a traceback, never a hang (``CASE_SECONDS`` of CPU time,
or ``WALL_SECONDS`` of wall time blocked); exit 2 prints one line on stderr;
exit 0 from a non-semantic class must give exactly the unmutated outputs.
"""
from __future__ import annotations

import copy
import faulthandler
import hashlib
import json
import random
import signal
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CASE_SECONDS = 60          # CPU seconds a case may take
WALL_SECONDS = 900         # wall seconds before the run is stopped with every thread's traceback

SEMANTIC = {"xmodel-field", "xmodel-param"}


@dataclass
class Case:
    cls: str
    seed: int
    what: str                       # the mutation, for messages
    argv: list[str]                 # command line after the program name
    tool: str                       # vairun | vaic | vaiq
    compare: str | None = None      # output .npz to compare with the baseline on exit 0
    semantic: bool = False          # the mutation may leave another valid program: exit 0 may change the result
    files: dict = field(default_factory=dict)


@dataclass
class Outcome:
    case: Case
    code: int
    stderr: str
    same: bool | None               # exit 0: output equal to the baseline (None: nothing to compare)

    @property
    def label(self) -> str:
        if self.code == 0:
            return "exit 0, same result" if self.same in (True, None) else "exit 0, other result"
        return f"exit {self.code}"


# ------------------------------------------------------------------------------------------- values

def _odd_values(rng: random.Random, v):
    """Type and range mutations of a JSON-ish value."""
    pool = [None, True, False, 0, -1, 1, 2 ** 31, -2 ** 63, 10 ** 30, 1e308, float("nan"), "", "x" * 300,
            [], {}, [1, 2, 3], {"a": 1}]
    if isinstance(v, bool):
        pool += [not v, int(v)]
    elif isinstance(v, int):
        pool += [v + 1, v - 1, -v, v * 1000, float(v), str(v)]
    elif isinstance(v, float):
        pool += [-v, v * 1e6, int(v), str(v)]
    elif isinstance(v, str):
        pool += [v.upper(), v[::-1], v + "_", ""]
    elif isinstance(v, list):
        pool += [v[:-1], v + v[-1:], [str(x) for x in v], list(reversed(v))]
    return rng.choice(pool)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:8]):
            yield from _paths(v, prefix + (i,))


def mutate_json(rng: random.Random, data) -> tuple[object, str]:
    """One mutation of a JSON document: a value replaced, a key dropped or added, or the root re-typed."""
    data = copy.deepcopy(data)
    paths = [p for p in _paths(data) if p]
    op = rng.random()
    if not paths or op < 0.05:
        return _odd_values(rng, data), "root replaced"
    path = rng.choice(paths)
    parent = data
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    if op < 0.2 and isinstance(parent, dict):
        del parent[key]
        return data, f"dropped {'/'.join(map(str, path))}"
    if op < 0.3 and isinstance(parent, dict):
        parent["zz_unknown_" + str(rng.randrange(100))] = 1
        return data, f"unknown key beside {'/'.join(map(str, path))}"
    parent[key] = _odd_values(rng, parent[key])
    return data, f"{'/'.join(map(str, path))} = {str(parent[key])[:40]}"


def mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    n = len(data)
    op = rng.randrange(6)
    if op == 0:
        k = rng.randrange(n + 1)
        return data[:k], f"truncated to {k} bytes"
    if op == 1:
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b), "bits flipped"
    if op == 2:
        return data + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))), "garbage appended"
    if op == 3:
        return b"", "empty"
    if op == 4:
        i = rng.randrange(n)
        return data[:i] + bytes([rng.randrange(256)]) + data[i + 1:], "one byte changed"
    k = rng.randrange(n)
    return data[k:], "head cut off"


def write_md5(model: Path) -> None:
    (model.parent / "md5sum.txt").write_text(hashlib.md5(model.read_bytes()).hexdigest() + "\n")


# ------------------------------------------------------------------------------------------- classes

def _dpu_subgraph(g):
    return next(s for s in g.get_root_subgraph().toposort_child_subgraph() if s.get_attr("device") == "DPU")


def _attr_value(rng, v):
    """A mutation of an xir attribute value that keeps it storable where possible."""
    if isinstance(v, bytes):
        data, _ = mutate_bytes(rng, v)
        return data
    if isinstance(v, dict):
        v = dict(v)
        k = rng.choice(list(v)) if v else None
        op = rng.random()
        if k is None or op < 0.2:
            v["REG_9" if rng.random() < 0.5 else "zz"] = v[k] if k else 0
        elif op < 0.35:
            del v[k]
        else:
            v[k] = _attr_value(rng, v[k])
        return v
    if isinstance(v, (list, tuple)):
        v = list(v)
        if not v:
            return [rng.randint(-5, 5)]
        op = rng.random()
        i = rng.randrange(len(v))
        if op < 0.2:
            return v[:-1]
        if op < 0.3:
            return v + v[-1:]
        v[i] = _attr_value(rng, v[i])
        return v
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return rng.choice([v + 1, v - 1, -1, 0, v * 2 + 64, 2 ** 31 - 1, v ^ 1])
    if isinstance(v, str):
        return rng.choice(["", v + "x", v[::-1], "DPU", "CPU", "ISA1X", "ISA1"])
    return v


def xmodel_attr_case(rng, base: "Base", d: Path, seed: int) -> Case:
    import xir
    g = xir.Graph.deserialize(base.compiled)
    sg = _dpu_subgraph(g)
    names = [n for n in list(sg.get_attrs()) if n not in ("mc_code", "reg_id_to_parameter_value")]
    name = rng.choice(names)
    atype = sg.get_attr_type(name)
    new = _attr_value(rng, sg.get_attr(name))
    what = f"{sg.get_name()}.{name} ({atype}) mutated"
    try:
        sg.set_attr(name, new, atype)
    except Exception:
        sg.del_attr(name)
        what = f"{sg.get_name()}.{name} removed"
    return _model_case("xmodel-attr", g, d, seed, what, base)


def xmodel_field_case(rng, base: "Base", d: Path, seed: int) -> Case:
    import xir
    from xir.isa import decode, encode, field_names, field_slot
    g = xir.Graph.deserialize(base.compiled)
    sg = _dpu_subgraph(g)
    isa = sg.get_attr("isa")
    instrs = decode(sg.get_attr("mc_code"), isa)
    op = rng.random()
    if op < 0.08:
        kinds = [i for i, ins in enumerate(instrs) if ins.kind == "SAVE"]
        k = rng.choice(kinds)
        del instrs[k]
        what = f"SAVE {k} dropped"
    elif op < 0.12:
        instrs = instrs[:-1]
        what = "END dropped"
    else:
        k = rng.randrange(len(instrs) - 1)
        ins = instrs[k]
        names = [n for n in field_names(ins.kind)]
        fname = rng.choice(names)
        slot = field_slot(ins.kind, fname, isa)
        old = ins.fields[fname]
        choices = [v for v in {slot.lo, slot.hi, old + 1, old - 1, old + 2, old + 37, old ^ 1, 0}
                   if slot.accepts(v) and v != old]
        if not choices:
            choices = [old]
        ins.fields[fname] = rng.choice(choices)
        what = f"instruction {k} {ins.kind}.{fname}: {old} -> {ins.fields[fname]}"
    sg.set_attr("mc_code", encode(instrs, isa), "bytes")
    if len(instrs) != len(sg.get_attr("mc_code_layer_index")):
        idx = list(sg.get_attr("mc_code_layer_index"))
        sg.set_attr("mc_code_layer_index", idx[:len(instrs)], "int32[]")
    return _model_case("xmodel-field", g, d, seed, what, base)


def xmodel_param_case(rng, base: "Base", d: Path, seed: int) -> Case:
    import xir
    g = xir.Graph.deserialize(base.compiled)
    sg = _dpu_subgraph(g)
    p = bytearray(sg.get_attr("reg_id_to_parameter_value")["REG_0"])
    for _ in range(rng.randint(1, 4)):
        p[rng.randrange(len(p))] = rng.randrange(256)
    sg.set_attr("reg_id_to_parameter_value", {"REG_0": bytes(p)}, "map<string,bytes>")
    return _model_case("xmodel-param", g, d, seed, "parameter bytes changed", base)


def _model_case(cls, g, d: Path, seed, what, base) -> Case:
    out = d / "m"
    out.mkdir()
    model = out / "net.xmodel"
    g.serialize(model)
    write_md5(model)
    argv = ["run", str(model), "-i", str(base.input), "-o", str(d / "out.npz"), "-q"]
    if seed % 5 == 0:
        argv = ["info", str(model)]
        return Case(cls, seed, what, argv, "vairun")
    return Case(cls, seed, what, argv, "vairun", compare=str(d / "out.npz"), semantic=cls in SEMANTIC)


def xmodel_bytes_case(rng, base, d: Path, seed: int) -> Case:
    out = d / "m"
    out.mkdir()
    data, what = mutate_bytes(rng, base.compiled.read_bytes())
    (out / "net.xmodel").write_bytes(data)
    (out / "md5sum.txt").write_text((base.compiled.parent / "md5sum.txt").read_text())
    if seed % 3 == 0:
        (out / "md5sum.txt").unlink()          # also without the checksum: the parser must hold
        what += ", no md5sum.txt"
    cmd = ["vairun", "run"] if seed % 2 else ["vaic", "disasm"]
    argv = cmd[1:] + [str(out / "net.xmodel")]
    if cmd[1] == "run":
        argv += ["-i", str(base.input), "-o", str(d / "out.npz"), "-q"]
    return Case("xmodel-bytes", seed, what, argv, cmd[0], compare=str(d / "out.npz") if cmd[1] == "run" else None,
                semantic=seed % 3 == 0)


def npy_case(rng, base, d: Path, seed: int) -> Case:
    good = base.input.read_bytes()
    op = rng.random()
    if op < 0.5:
        data, what = mutate_bytes(rng, good)
    else:
        header_end = good.index(b"\n") + 1
        header = good[:header_end].decode("latin1")
        swaps = [("'<f4'", rng.choice(["'<f8'", "'|O'", "'<U3'", "'|b1'", "'>f4'", "'<i8'", "'<c8'"])),
                 ("False", "True"),
                 ("(2, 32, 32, 3)", rng.choice(["(0, 32, 32, 3)", "(2, 32, 32)", "(281474976710656, 32, 32, 3)",
                                                "(2, 3, 32, 32)", "()", "(2, 32, 32, 3, 1)", "(-1, 32, 32, 3)"]))]
        a, b = rng.choice(swaps)
        new = header.replace(a, b)
        pad = len(header) - len(new)
        if pad > 0:
            new = new[:-1] + " " * pad + "\n"
        data, what = new.encode("latin1") + good[header_end:], f"header {a} -> {b}"
    p = d / "in.npy"
    p.write_bytes(data)
    if seed % 4:
        return Case("npy", seed, what, ["run", str(base.compiled), "-i", str(p), "-o", str(d / "o.npz"), "-q"],
                    "vairun")
    return Case("npy", seed, what, ["eval", str(base.compiled), "--data", str(p), "--workers", "1", "-q"], "vairun")


def arch_case(rng, base, d: Path, seed: int) -> Case:
    p = d / "arch.json"
    if rng.random() < 0.2:
        data, what = mutate_bytes(rng, base.arch.read_bytes())
        p.write_bytes(data)
    else:
        doc, what = mutate_json(rng, json.loads(base.arch.read_text()))
        p.write_text(json.dumps(doc))
    return Case("arch-json", seed, what, ["run", str(base.compiled), "-i", str(base.input), "--arch", str(p),
                                          "-o", str(d / "o.npz"), "-q"], "vairun")


def quant_info_case(rng, base, d: Path, seed: int) -> Case:
    q = d / "q"
    q.mkdir()
    doc = json.loads((base.quant_dir / "quant_info.json").read_text())
    section = rng.choice(["output", "param", "input"])
    if doc.get(section) and rng.random() < 0.7:
        key = rng.choice(list(doc[section]))
        old = doc[section][key]
        doc[section][key] = rng.choice([[[8, 1000]], [[8, -1000]], [[8, True]], [[8, 10 ** 30]], [[8, 2.5]],
                                        [[99, 3]], [[8, None]], [8], "x", [[8, 3, 4]], [], [[True, 3]]])
        what = f"{section}/{key}: {old} -> {doc[section][key]}"
    else:
        doc, what = mutate_json(rng, doc)
    (q / "quant_info.json").write_text(json.dumps(doc))
    return Case("quant-info", seed, what, ["test", "--model", "zoo:tiny_resnet", "--output", str(q), "-q", "--no-onnx", "--no-torchscript"], "vaiq")


def options_case(rng, base, d: Path, seed: int) -> Case:
    good = {"input_shape": "1,32,32,3", "output_ops": base.output_op}
    if rng.random() < 0.15:
        text, what = rng.choice(['{', '[]', '"x"', 'null', '{"a": 1}', '{"output_ops": ",,,"}', "1e999"]), "garbled"
    else:
        doc, what = mutate_json(rng, good)
        text = json.dumps(doc)
    return Case("vaic-options", seed, what, ["-x", str(base.deploy), "-a", "DPUCZDX8G/KV260", "-o",
                                             str(d / "c"), "-q", "--options", text], "vaic")


def deploy_case(rng, base, d: Path, seed: int) -> Case:
    import xir
    g = xir.Graph.deserialize(base.deploy)
    ops = [o for o in g.get_ops() if list(o.get_attrs())]
    op = rng.choice(ops)
    name = rng.choice(list(op.get_attrs()))
    atype = op.get_attr_type(name)
    new = _attr_value(rng, op.get_attr(name))
    what = f"op {op.get_name()}.{name} ({atype}) mutated"
    try:
        op.set_attr(name, new, atype)
        g.serialize(d / "q.xmodel")
    except Exception:
        g = xir.Graph.deserialize(base.deploy)
        op = g.get_op(op.get_name())
        op.del_attr(name) if name not in ("data",) else None
        what = f"op {op.get_name()}.{name} removed"
        try:
            g.serialize(d / "q.xmodel")
        except Exception:
            (d / "q.xmodel").write_bytes(base.deploy.read_bytes()[: rng.randrange(200)])
            what = "truncated"
    return Case("vaic-deploy", seed, what, ["-x", str(d / "q.xmodel"), "-a", "DPUCZDX8G/KV260", "-o",
                                            str(d / "c"), "-q"], "vaic")


def sweep_case(rng, base, d: Path, seed: int) -> Case:
    """``vaic sweep``: target lists, arch files and report paths mutated."""
    argv = ["sweep", str(base.deploy), "--workers", "1", "-q"]
    op = rng.randrange(3)
    if op == 0:
        text = rng.choice(["", ",,", "DPUCZDX8G/KV260,DPUCZDX8G/KV260", "DPUCZDX8G", "NOPE/X", "DPUCZDX8G/",
                           "/KV260", "dpuczdx8g/kv260", "DPUCZDX8G/KV260,,DPUCADF8H/U250", "x" * 300, "all,all",
                           "DPUCZDX8G/KV260;DPUCADF8H/U250", "0x0", "\u00e9"])
        argv += ["--targets", text]
        what = f"--targets {text[:40]!r}"
    elif op == 1:
        p = d / "arch.json"
        doc, what = mutate_json(rng, json.loads(base.arch.read_text()))
        p.write_text(json.dumps(doc))
        argv += ["--arch", str(p)]
    else:
        (d / "file").write_text("")
        (d / "dir").mkdir()
        where = rng.choice([d / "file" / "r.json", d / "dir", d / "no" / "r.json", d / "ok.json"])
        flag = rng.choice(["--json", "--html"])
        argv += ["--targets", "DPUCZDX8G/KV260", flag, str(where)]
        what = f"{flag} {where.relative_to(d)}"
    return Case("vaic-sweep", seed, what, argv, "vaic")


CLASSES = {
    "xmodel-bytes": xmodel_bytes_case,
    "xmodel-attr": xmodel_attr_case,
    "xmodel-field": xmodel_field_case,
    "xmodel-param": xmodel_param_case,
    "npy": npy_case,
    "arch-json": arch_case,
    "quant-info": quant_info_case,
    "vaic-options": options_case,
    "vaic-deploy": deploy_case,
    "vaic-sweep": sweep_case,
}


# ------------------------------------------------------------------------------------------- base

@dataclass
class Base:
    quant_dir: Path
    deploy: Path
    compiled: Path
    arch: Path
    input: Path
    baseline: dict
    output_op: str


def build_base(root: Path) -> Base:
    """Quantize the zoo's tiny ResNet, compile it for KV260, run it once: the valid artifacts."""
    import torch

    from vaic.pipeline import compile_graph
    from vaic.writer import write_outputs
    from vaiq import torch_quantizer
    from vaiq.zoo import MODELS, get_model
    from vairun import GraphRunner
    from xir.target import load_target

    root.mkdir(parents=True, exist_ok=True)
    qd = root / "quantize_result"
    shape = MODELS["tiny_resnet"].input_shape
    model = get_model("tiny_resnet")
    gen = torch.Generator().manual_seed(0)
    q = torch_quantizer("calib", model, (torch.randn(*shape, generator=gen),), output_dir=str(qd))
    with torch.no_grad():
        for _ in range(2):
            q.quant_model(torch.randn(4, *shape[1:], generator=gen))
    q.export_quant_config()
    qt = torch_quantizer("test", model, (torch.randn(*shape, generator=gen),), output_dir=str(qd))
    deploy = qt.export_xmodel()
    res = compile_graph(deploy, "DPUCZDX8G/KV260")
    compiled = write_outputs(res, root / "compiled", "net")["net.xmodel"]
    arch = root / "arch.json"
    arch.write_text(json.dumps(load_target("DPUCZDX8G/KV260").to_dict(), indent=1))
    x = np.random.default_rng(0).standard_normal((2, shape[2], shape[3], shape[1])).astype(np.float32)
    np.save(root / "input.npy", x)
    base_out = dict(np.load(_run_baseline(compiled, root / "input.npy", root / "baseline.npz")))
    import xir
    g = xir.Graph.deserialize(deploy)
    out_op = [o.get_name() for o in g.get_ops() if o.get_type() not in ("const", "const-fix", "data", "data-fix")][-1]
    del GraphRunner
    return Base(qd, Path(deploy), compiled, arch, root / "input.npy", base_out, out_op)


def _run_baseline(compiled, inp, out) -> Path:
    from click.testing import CliRunner

    from vairun.cli import main
    r = CliRunner().invoke(main, ["run", str(compiled), "-i", str(inp), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    return out


# ------------------------------------------------------------------------------------------- running

class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"no answer within {CASE_SECONDS} CPU seconds")


def run_case(case: Case, base: Base) -> Outcome:
    from click.testing import CliRunner

    if case.tool == "vairun":
        from vairun.cli import main
    elif case.tool == "vaic":
        from vaic.cli import main
    else:
        from vaiq.cli import cli as main
    # a hang is CPU seconds without an answer: a process starved by a busy machine is not hung
    old = signal.signal(signal.SIGPROF, _alarm)
    signal.setitimer(signal.ITIMER_PROF, CASE_SECONDS)
    faulthandler.dump_traceback_later(WALL_SECONDS, exit=True)     # a blocked (sleeping) hang: fail loudly
    try:
        r = CliRunner().invoke(main, case.argv)
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)
    stderr = r.stderr
    code = r.exit_code
    if isinstance(r.exception, Hang):
        code, stderr = -1, str(r.exception)
    elif r.exception is not None and not isinstance(r.exception, SystemExit):
        import traceback
        code = 1
        stderr += "".join(traceback.format_exception(r.exception))
    same = None
    if code == 0 and case.compare and Path(case.compare).exists():
        with np.load(case.compare) as z:
            got = dict(z)
        same = set(got) == set(base.baseline) and all(np.array_equal(got[k], base.baseline[k]) for k in got)
    return Outcome(case, code, stderr, same)


def check(o: Outcome) -> str | None:
    """The first rule ``o`` breaks, or None."""
    c = o.case
    if o.code == -1:
        return f"hang: {o.stderr}"
    if "Traceback" in o.stderr:
        return "a traceback was printed"
    if o.code == 1:
        return f"exit 1 (a bug of ours): {o.stderr.strip()[-400:]}"
    if o.code == 2:
        lines = [ln for ln in o.stderr.strip().splitlines() if ln.strip()]
        if len(lines) != 1:
            return f"exit 2 with {len(lines)} lines on stderr: {o.stderr[-400:]}"
        return None
    if o.code == 0:
        if o.same is False and not c.semantic:
            return "exit 0 with a changed result"
        return None
    return f"unexpected exit code {o.code}"


def make_case(cls: str, seed: int, base: Base, d: Path) -> Case:
    rng = random.Random(f"{cls}:{seed}")
    d.mkdir(parents=True, exist_ok=True)
    return CLASSES[cls](rng, base, d, seed)
