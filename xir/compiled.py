"""A compiled model as the tools read it back: its recorded target and each DPU subgraph's program,
checked for consistency before anything runs or is printed (docs/xmodel.md, "Compiled models").

Rules, each failure a :class:`~xir.errors.CompiledModelError` naming the file, the subgraph and the
field:
- every child subgraph has a ``device``; the graph records its target (``arch_json``, a valid target
  description), and every DPU subgraph carries that target's fingerprint and ISA;
- a DPU subgraph holds ``mc_code`` (a stream that decodes for its ISA), ``mc_code_layers`` and
  ``mc_code_layer_index`` (one index per instruction, each naming a layer), ``reg_id_to_size`` (``REG_<n>``
  -> a byte count, n within the ISA's register ids; REG_0, the parameters, exactly as long as
  ``reg_id_to_parameter_value``; a data register no larger than what its stream and interfaces reach plus
  ``REG_SLACK``, so a corrupt size never sizes memory),
  ``input_ddr`` / ``output_ddr`` (tensor -> [reg, address, fix point]) naming tensors of the graph, in a
  data register (not REG_0), inside it, and with the tensor's fix point;
- the stream passes ``xir.isa.verify.check_stream`` (the compiler's own checks: fields, tokens, every
  access inside the banks and registers, nothing read before it is written, every output byte written by
  a SAVE). A changed checksum file is not needed to notice an edited model.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .errors import CompiledModelError, XirError
from .graph import Graph, Subgraph
from .isa import decode, field_slot
from .isa.access import accesses
from .isa.bankmap import BankMap
from .isa.verify import StreamError, check_stream

#: attributes every DPU subgraph must carry
DPU_ATTRS = ("mc_code", "isa", "dpu_fingerprint", "reg_id_to_size", "reg_id_to_parameter_value", "input_ddr",
             "output_ddr")


@dataclass(frozen=True)
class Place:
    """Where an interface tensor lives in DDR (dense NHWC, batch 1)."""
    name: str
    reg_id: int
    ddr_addr: int
    dims: tuple[int, ...]
    fix_point: int
    pixel_stride: int = 0

    @property
    def size(self) -> int:
        return int(np.prod(self.dims[1:], dtype=np.int64))


@dataclass
class DpuProgramImage:
    """One DPU subgraph's program as stored: instructions (``layer`` set), DDR registers, parameters and
    interface places."""
    subgraph: Subgraph
    instructions: list
    reg_sizes: dict[int, int]
    const: bytes
    inputs: list[Place]
    outputs: list[Place]


def recorded_target(g: Graph, where: str):
    """The target a compiled graph records (``arch_json``)."""
    from .target import Target, TargetError
    if not g.has_attr("arch_json"):
        raise CompiledModelError(f"{where}: no target recorded (arch_json); compile the model with vaic")
    try:
        return Target.from_dict(json.loads(g.get_attr("arch_json")), where)
    except (TargetError, ValueError, TypeError, KeyError) as e:
        raise CompiledModelError(f"{where}: its recorded target (arch_json) is unreadable: {e}") from None


def child_subgraphs(g: Graph, where: str) -> list[Subgraph]:
    subs = g.get_root_subgraph().toposort_child_subgraph()
    if not subs:
        raise CompiledModelError(f"{where}: not a compiled model (no subgraphs); compile it with vaic first")
    for s in subs:
        if not s.has_attr("device") or s.get_attr("device") not in ("DPU", "CPU", "USER"):
            raise CompiledModelError(f"{where}: subgraph {s.get_name()} has no valid 'device' (DPU, CPU or USER)")
    return subs


def _int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _places(sg: Subgraph, key: str, sizes: dict[int, int], bad) -> list[Place]:
    g = sg.get_graph()
    out = []
    for name, v in sg.get_attr(key).items():
        if not (isinstance(v, (list, tuple)) and len(v) == 3 and all(_int(x) for x in v)):
            raise bad(f"{key}['{name}'] = {v!r} is not [reg_id, ddr_addr, fix_point]")
        reg, addr, fp = (int(x) for x in v)
        try:
            t = g.get_tensor(name)
        except XirError:
            raise bad(f"{key} names tensor '{name}', which the graph does not have") from None
        dims = tuple(int(d) for d in t.dims)
        if not dims or any(d <= 0 for d in dims):
            raise bad(f"{key}: tensor '{name}' has shape {list(dims)}")
        if reg == 0 or reg not in sizes:
            raise bad(f"{key}['{name}'] is in REG_{reg}, not one of the data registers {sorted(r for r in sizes if r)}")
        place = Place(name, reg, addr, (1,) + dims[1:], fp)
        if addr < 0 or addr + place.size > sizes[reg]:
            raise bad(f"{key}['{name}'] bytes {addr}..{addr + place.size - 1} leave REG_{reg} ({sizes[reg]} bytes)")
        # a boundary tensor (upload/download) crosses subgraphs: its attributes hold one side's placement
        own = sg.has_op(name) and g.get_op(name).get_type() not in ("upload", "download")
        for attr, want in (("reg_id", reg), ("ddr_addr", addr)) if own else ():
            if t.has_attr(attr) and int(t.get_attr(attr)) != want:
                raise bad(f"{key}['{name}'] puts it at {attr} {want}, the tensor says {t.get_attr(attr)}")
        if t.has_attr("fix_point") and int(t.get_attr("fix_point")) != fp:
            raise bad(f"{key}['{name}'] fix point {fp} differs from the tensor's {t.get_attr('fix_point')}")
        out.append(place)
    return out


def _savers(sg: Subgraph, outputs: list[Place]) -> dict[str, set[str]]:
    """Per output, the layers allowed to write its bytes last: its own op, and the ops feeding it (through
    such ops) whose output the compiler placed inside it (the inputs of an in-place concat)."""
    g = sg.get_graph()
    out = {}
    for p in outputs:
        allowed = {p.name}
        if g.has_op(p.name):
            todo = list(g.get_op(p.name).inputs)
            while todo:
                op = todo.pop()
                t = op.get_output_tensor()
                if op.get_name() in allowed or not (sg.has_op(op.get_name()) and t.has_attr("reg_id")
                                                     and t.has_attr("ddr_addr")):
                    continue
                reg, addr = int(t.get_attr("reg_id")), int(t.get_attr("ddr_addr"))
                if reg == p.reg_id and p.ddr_addr <= addr < p.ddr_addr + p.size:
                    allowed.add(op.get_name())
                    todo.extend(op.inputs)
        out[p.name] = allowed
    return out


#: bytes a data register may hold beyond the last byte its stream and interfaces reach (vaic's buffers are
#: 64-byte aligned); more is a corrupt size, refused before any memory is sized by it
REG_SLACK = 1 << 16


def _ddr_reach(instrs, banks: BankMap, places) -> dict[int, int]:
    """Per DDR register, the end of the furthest byte a LOAD, SAVE or interface tensor touches."""
    reach: dict[int, int] = {}
    for p in places:
        reach[p.reg_id] = max(reach.get(p.reg_id, 0), p.ddr_addr + p.size)
    for ins in instrs:
        if ins.kind not in ("LOAD", "SAVE"):
            continue
        for a in accesses(ins, None, banks):
            if a[0] == "D" and a[7] > 0:
                end = a[4] + (a[5] - 1) * a[6] + a[7]
                reach[a[2]] = max(reach.get(a[2], 0), end)
    return reach


def read_dpu_program(sg: Subgraph, target, where: str, check_stream_rules: bool = True) -> DpuProgramImage:
    """The program of DPU subgraph ``sg``, checked against ``target`` (module rules)."""
    name = sg.get_name()

    def bad(msg):
        return CompiledModelError(f"{where}: DPU subgraph {name}: {msg}; recompile the model with vaic")

    missing = [k for k in DPU_ATTRS if not sg.has_attr(k)]
    if missing:
        raise bad(f"lacks {missing}")
    if sg.get_attr("isa") != target.isa:
        raise bad(f"isa {sg.get_attr('isa')!r} is not its target's ({target.isa})")
    if sg.get_attr("dpu_fingerprint") != target.fingerprint:
        raise bad(f"dpu_fingerprint {hex(sg.get_attr('dpu_fingerprint'))} is not the recorded target's "
                  f"({target.fingerprint_hex})")
    try:
        instrs = decode(sg.get_attr("mc_code"), target.isa)
    except (XirError, ValueError) as e:
        raise bad(f"corrupt instruction stream (mc_code): {e}") from None
    layers = sg.get_attr("mc_code_layers") if sg.has_attr("mc_code_layers") else []
    index = sg.get_attr("mc_code_layer_index") if sg.has_attr("mc_code_layer_index") else []
    if len(index) != len(instrs):
        raise bad(f"mc_code_layer_index has {len(index)} entries for {len(instrs)} instructions")
    for i, k in enumerate(index):
        if not 0 <= k < len(layers):
            raise bad(f"mc_code_layer_index[{i}] = {k} names no layer (there are {len(layers)})")
        instrs[i].layer = layers[k]
    sizes = {}
    for k, v in sg.get_attr("reg_id_to_size").items():
        if not (isinstance(k, str) and k.startswith("REG_") and k[4:].isdigit()) or not _int(v) or v < 0:
            raise bad(f"reg_id_to_size entry {k!r}: {v!r} is not REG_<n>: <byte count>")
        sizes[int(k[4:])] = int(v)
    const = sg.get_attr("reg_id_to_parameter_value").get("REG_0", b"")
    if sizes.get(0, 0) != len(const):
        raise bad(f"REG_0 is {sizes.get(0, 0)} bytes but its parameter value holds {len(const)}")
    top = field_slot("LOAD", "reg_id", target.isa).hi
    if any(r > top for r in sizes):
        raise bad(f"reg_id_to_size names REG_{max(sizes)}; the ISA has registers 0..{top}")
    inputs = _places(sg, "input_ddr", sizes, bad)
    outputs = _places(sg, "output_ddr", sizes, bad)
    reach = _ddr_reach(instrs, BankMap(target), inputs + outputs)
    for r, n in sizes.items():
        if r and n > reach.get(r, 0) + REG_SLACK:
            raise bad(f"REG_{r} is declared {n} bytes but its stream and interfaces reach only {reach.get(r, 0)}")
    if check_stream_rules:
        try:
            check_stream(instrs, target, sizes, inputs, outputs, savers=_savers(sg, outputs))
        except StreamError as e:
            raise bad(str(e)) from None
    return DpuProgramImage(sg, instrs, sizes, const, inputs, outputs)
