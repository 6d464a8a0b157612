"""``generate``: one DPU subgraph -> DpuProgram (memory plan, tiling, code, tokens, verification).

Rules:
- ops run in the subgraph's topological order; ``const-fix`` ops only feed parameters;
  ``reshape-fix``, ``upload`` and ``download`` are aliases and ``concat-fix`` is in place (ddrplan), so they emit code only for
  the copies the plan could not avoid;
- every tensor of the subgraph gets the attributes ``reg_id``, ``ddr_addr``, ``location`` (1 = DDR)
  and ``stride`` (bytes per dim); its fix attributes are kept;
- the program is verified statically (verify.py) before it is returned; an op that cannot be tiled
  raises ``TilingError`` (the pipeline moves it to the CPU with reason NOT_TILED);
- the cyclic garbage collector is paused while one subgraph is generated (its tens of thousands of
  small objects, instructions and accesses, would otherwise trigger collection after collection);
  it resumes as it was when ``generate`` returns or raises, and collects then what is garbage.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager

import xir
from xir.target import Target

from ..errors import VaicError
from .context import Ctx
from .conv import gen_conv
from .copy import gen_copy
from .ddrplan import CONSTS, plan_ddr
from .dwconv import gen_dwconv, gen_hsigmoid
from .eltwise import gen_eltwise
from .errors import TilingError
from .pool import gen_pool
from .tconv import gen_tconv
from .upsample import gen_upsample
from .program import CONST_REG, DpuProgram, LayerStats
from .verify import verify

#: op types this backend generates (the partitioner sends others to the CPU as NOT_GENERATED)
GENERATED = frozenset({"conv2d-fix", "depthwise-conv2d-fix", "hard-sigmoid-fix", "pool-fix", "eltwise-fix",
                       "transposed-conv2d-fix", "concat-fix", "reshape-fix", "strided_slice", "upsample-fix",
                       "upload", "download"})

GEN = {"conv2d-fix": gen_conv, "depthwise-conv2d-fix": gen_dwconv, "hard-sigmoid-fix": gen_hsigmoid,
       "pool-fix": gen_pool, "eltwise-fix": gen_eltwise, "upsample-fix": gen_upsample,
       "transposed-conv2d-fix": gen_tconv}


@contextmanager
def _collector_paused():
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def generate(sg: xir.Subgraph, g: xir.Graph, target: Target) -> DpuProgram:
    """Compile the DPU subgraph ``sg`` of ``g`` for ``target``."""
    with _collector_paused():
        return _generate(sg, g, target)


def _generate(sg: xir.Subgraph, g: xir.Graph, target: Target) -> DpuProgram:
    if not target.compilable:
        raise VaicError(f"target {target.name} has no instruction set; the DPU backend cannot compile for it")
    ops = sg.get_ops()
    schedule = [op for op in ops if op.get_type() not in CONSTS]
    for op in schedule:
        if op.get_type() not in GENERATED:
            raise TilingError(op.get_name(), f"{op.get_type()} has no DPU code generator")
    plan = plan_ddr(sg, schedule)
    ctx = Ctx(target, plan)
    const_addr: dict[str, int] = {}
    for op in schedule:
        kind = op.get_type()
        for cp in plan.copies.get(op.get_name(), []):
            gen_copy(ctx, cp)
        fn = GEN.get(kind)
        if fn is not None:
            start = ctx.const.size
            fn(ctx, op)
            for arg in ("weights", "bias"):
                if op.get_input_num(arg):
                    const_addr.setdefault(op.get_input_op(arg).get_output_tensor().name, start)
            ctx.layer_index += 1
        else:
            ctx.stats.append(LayerStats(op.get_name(), "concat" if kind == "concat-fix" else "alias"))
            if kind == "concat-fix":
                placed = plan.concat_in_place.get(op.get_name(), [])
                ctx.log.append(f"{op.get_name()}: concat in place ({len(placed)} of "
                               f"{op.get_input_num('input')} inputs written by their producers)")
    instrs = ctx.em.finish()
    const = ctx.const.blob()
    regs = dict(plan.reg_sizes)
    regs[CONST_REG] = len(const)
    _annotate(sg, plan, const_addr)
    prog = DpuProgram(instructions=instrs, reg_sizes=regs, const_data=const, inputs=plan.inputs,
                      outputs=plan.outputs, internal=plan.internal, layers=ctx.stats, log=ctx.log)
    prog.mc_code = verify(prog, target, trace=ctx.em.shadow)
    return prog


def _annotate(sg: xir.Subgraph, plan, const_addr: dict[str, int]) -> None:
    places = {p.name: p for p in plan.inputs + plan.outputs + plan.internal}
    for op in sg.get_ops():
        t = op.get_output_tensor()
        p = places.get(t.name)
        if p is not None:
            reg, addr, stride = p.reg_id, p.ddr_addr, p.stride
        elif t.name in const_addr:
            reg, addr = CONST_REG, const_addr[t.name]
            stride, acc = [], 1
            for d in reversed(t.dims):
                stride.append(acc)
                acc *= d
            stride = list(reversed(stride))
        else:
            continue
        t.set_attr("reg_id", int(reg))
        t.set_attr("ddr_addr", int(addr))
        t.set_attr("location", 1)
        t.set_attr("stride", [int(s) for s in stride])
    for t in sg.get_input_tensors():
        p = places.get(t.name)
        if p is not None:
            t.set_attr("reg_id", int(p.reg_id))
            t.set_attr("ddr_addr", int(p.ddr_addr))
            t.set_attr("location", 1)
            t.set_attr("stride", [int(s) for s in p.stride])
