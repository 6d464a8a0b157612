"""Helpers for the backend tests (no tests here): build fixed-point graphs with xir.Graph, compile
one DPU subgraph with vaic.backend.generate, run it on the emulator and on the reference
interpreter."""
from __future__ import annotations

import numpy as np

import xir
from xir.interp import run_graph
from xir.target import load_target

from vaic.backend import generate
from vaic.backend.program import CONST_REG, INTERFACE_REG, WORKSPACE_REG

TARGETS = ("DPUCZDX8G/B512", "DPUCZDX8G/KV260", "DPUCADF8H/U250")


def target(key: str):
    return load_target(key)


def set_fix(op, fp: int):
    t = op.get_output_tensor()
    t.set_attr("fix_point", int(fp))
    t.set_attr("bit_width", 8)
    t.set_attr("if_signed", True)
    t.set_attr("round_mode", "DPU_ROUND")
    op.infer_shape()
    return op


class Builder:
    """Fixed-point graph under construction; ops get seeded random int8 parameters."""

    def __init__(self, name="g", seed=0):
        self.g = xir.Graph(name)
        self.rng = np.random.default_rng(seed)
        self.n = 0

    def _name(self, base):
        self.n += 1
        return f"{base}{self.n}"

    def input(self, shape, fp=4, name="x"):
        op = self.g.create_op(name, "data-fix", {"shape": list(shape), "data_type": "xint8"})
        return set_fix(op, fp)

    def const(self, data, fp, name=None):
        op = self.g.create_const_op(name or self._name("const"), np.asarray(data, dtype=np.int8), "xint8",
                                    kind="const-fix")
        t = op.get_output_tensor()
        t.set_attr("fix_point", int(fp))
        t.set_attr("bit_width", 8)
        t.set_attr("if_signed", True)
        t.set_attr("round_mode", "STD_ROUND")
        return op

    def conv(self, x, cout, k=3, s=1, pad=None, act="NONE", fp_w=7, fp_b=8, fp_o=5, bias=True, name=None,
             pad_mode="FLOOR"):
        kh, kw = (k, k) if isinstance(k, int) else k
        sh, sw = (s, s) if isinstance(s, int) else s
        cin = x.get_output_tensor().dims[-1]
        if pad is None:
            pad = [kw // 2, kw // 2, kh // 2, kh // 2]
        w = self.const(self.rng.integers(-128, 128, (cout, kh, kw, cin)), fp_w)
        ins = {"input": [x], "weights": [w]}
        if bias:
            ins["bias"] = [self.const(self.rng.integers(-128, 128, (cout,)), fp_b)]
        op = self.g.create_op(name or self._name("conv"), "conv2d-fix",
                              {"kernel": [kw, kh], "stride": [sw, sh], "pad": list(pad), "nonlinear": act,
                               "pad_mode": pad_mode}, ins)
        return set_fix(op, fp_o)

    def dwconv(self, x, k=3, s=1, pad=None, act="NONE", fp_w=7, fp_b=8, fp_o=5, bias=True, name=None):
        kh, kw = (k, k) if isinstance(k, int) else k
        c = x.get_output_tensor().dims[-1]
        if pad is None:
            pad = [kw // 2, kw // 2, kh // 2, kh // 2]
        w = self.const(self.rng.integers(-128, 128, (1, kh, kw, c)), fp_w)
        ins = {"input": [x], "weights": [w]}
        if bias:
            ins["bias"] = [self.const(self.rng.integers(-128, 128, (c,)), fp_b)]
        op = self.g.create_op(name or self._name("dw"), "depthwise-conv2d-fix",
                              {"kernel": [kw, kh], "stride": [s, s], "pad": list(pad), "nonlinear": act}, ins)
        return set_fix(op, fp_o)

    def pool(self, x, kind="MAX", k=2, s=2, pad=(0, 0, 0, 0), fp_o=None, name=None, pad_mode="FLOOR",
             glob=False):
        kh, kw = (k, k) if isinstance(k, int) else k
        attrs = {"type": kind, "kernel": [kw, kh], "stride": [s, s] if isinstance(s, int) else list(s),
                 "pad": list(pad), "pad_mode": pad_mode}
        if glob:
            attrs["global"] = True
        op = self.g.create_op(name or self._name("pool"), "pool-fix", attrs, {"input": [x]})
        fp_in = x.get_output_tensor().get_attr("fix_point")
        return set_fix(op, fp_in if fp_o is None else fp_o)

    def eltwise(self, xs, kind="ADD", act="NONE", fp_o=4, name=None):
        op = self.g.create_op(name or self._name("elt"), "eltwise-fix", {"type": kind, "nonlinear": act},
                              {"input": list(xs)})
        return set_fix(op, fp_o)

    def concat(self, xs, name=None):
        op = self.g.create_op(name or self._name("cat"), "concat-fix", {"axis": 3}, {"input": list(xs)})
        return set_fix(op, xs[0].get_output_tensor().get_attr("fix_point"))

    def reshape(self, x, shape, name=None):
        op = self.g.create_op(name or self._name("rs"), "reshape-fix", {"shape": list(shape)}, {"input": [x]})
        return set_fix(op, x.get_output_tensor().get_attr("fix_point"))

    def slice(self, x, c0, c1, name=None):
        """A fixed ``strided_slice`` of channels c0..c1 of an NHWC image."""
        dims = list(x.get_output_tensor().dims)
        op = self.g.create_op(name or self._name("sl"), "strided_slice",
                              {"begin": [0, 0, 0, c0], "end": dims[:3] + [c1], "strides": [1, 1, 1, 1]},
                              {"input": [x]})
        return set_fix(op, x.get_output_tensor().get_attr("fix_point"))

    def dpu_subgraph(self, cpu_ops=()):
        """Partition: data-fix ops -> USER, ops named in ``cpu_ops`` -> CPU, the rest -> one DPU
        subgraph (returned)."""
        ops = self.g.get_ops()
        root = self.g.get_root_subgraph()
        root.remove_children()
        user = [o for o in ops if o.get_type() == "data-fix"]
        cpu = [o for o in ops if o.get_name() in cpu_ops]
        dpu = [o for o in ops if o not in user and o not in cpu]
        if user:
            root.create_child("user", user).set_attr("device", "USER")
        sg = root.create_child("dpu", dpu)
        sg.set_attr("device", "DPU")
        if cpu:
            root.create_child("cpu", cpu).set_attr("device", "CPU")
        return sg


def run_program(prog, tgt, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a DpuProgram on the emulator; ``feeds`` maps interface input tensor names to int arrays."""
    from vairun.emu import Machine
    m = Machine(tgt, 1)
    m.set_reg(CONST_REG, np.frombuffer(prog.const_data, dtype=np.int8) if prog.const_data else
              np.zeros(1, np.int8), shared=True)
    m.set_reg(WORKSPACE_REG, np.zeros(max(prog.reg_sizes[WORKSPACE_REG], 1), np.int8))
    io = np.zeros(max(prog.reg_sizes[INTERFACE_REG], 1), np.int8)
    for p in prog.inputs:
        a = np.asarray(feeds[p.name]).astype(np.int8).reshape(-1)
        assert not p.pixel_stride
        io[p.ddr_addr:p.ddr_addr + a.size] = a
    m.set_reg(INTERFACE_REG, io)
    m.run(prog.instructions)
    out = {}
    regs = {r: np.asarray(m.get_reg(r)) for r in (WORKSPACE_REG, INTERFACE_REG)}
    for p in prog.outputs + prog.internal:
        buf = regs[p.reg_id].reshape(-1) if regs[p.reg_id].ndim == 1 else regs[p.reg_id][0]
        dims = p.dims
        if p.pixel_stride:
            h, w, c = dims[1], dims[2], dims[3]
            idx = (p.ddr_addr + (np.arange(h * w) * p.pixel_stride)[:, None] + np.arange(c)[None, :])
            out[p.name] = buf[idx].reshape(dims)
        else:
            n = int(np.prod(dims[1:]))
            out[p.name] = buf[p.ddr_addr:p.ddr_addr + n].reshape(dims)
    return out


def compile_and_check(b: Builder, key: str, seed: int = 1, check_internal: bool = True, cpu_ops=()):
    """Compile the graph's DPU subgraph for ``key``, run emulator and reference, assert equality."""
    tgt = target(key)
    sg = b.dpu_subgraph(cpu_ops)
    prog = generate(sg, b.g, tgt)
    rng = np.random.default_rng(seed)
    feeds = {}
    for op in b.g.get_ops():
        if op.get_type() == "data-fix":
            feeds[op.get_name()] = rng.integers(-128, 128, op.get_output_tensor().dims).astype(np.int8)
    ref = run_graph(b.g, feeds, keep_all=True)
    got = run_program(prog, tgt, feeds)
    names = [p.name for p in prog.outputs] + ([p.name for p in prog.internal] if check_internal else [])
    for n in names:
        want = np.asarray(ref[n]).astype(np.int8)
        have = got[n]
        if not np.array_equal(want, have):
            diff = np.argwhere(want != have)
            raise AssertionError(f"{key}: tensor {n} differs at {len(diff)} of {want.size} places, first "
                                 f"{diff[0].tolist()}: want {want[tuple(diff[0])]} got {have[tuple(diff[0])]}")
    return prog


def sequential_fit(bufs) -> int:
    """A workspace allocator without reuse (tests: every internal tensor survives to the end)."""
    top = 0
    for b in sorted(bufs, key=lambda b: (b.first, b.bid)):
        b.addr = top
        top += -(-b.size // 64) * 64
    return top


def run_batch(prog, tgt, feeds_per_image: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Run a DpuProgram once for several images (the machine's batch lanes share the stream, CONST
    is shared, WORKSPACE and INTERFACE are per image); returns the outputs per image."""
    from vairun.emu import Machine
    n = len(feeds_per_image)
    m = Machine(tgt, n)
    m.set_reg(CONST_REG, np.frombuffer(prog.const_data, dtype=np.int8), shared=True)
    m.set_reg(WORKSPACE_REG, np.zeros((n, max(prog.reg_sizes[WORKSPACE_REG], 1)), np.int8))
    io = np.zeros((n, max(prog.reg_sizes[INTERFACE_REG], 1)), np.int8)
    for i, feeds in enumerate(feeds_per_image):
        for p in prog.inputs:
            a = np.asarray(feeds[p.name]).astype(np.int8).reshape(-1)
            io[i, p.ddr_addr:p.ddr_addr + a.size] = a
    m.set_reg(INTERFACE_REG, io)
    m.run(prog.instructions)
    regs = np.asarray(m.get_reg(INTERFACE_REG))
    out = []
    for i in range(n):
        out.append({p.name: regs[i, p.ddr_addr:p.ddr_addr + int(np.prod(p.dims[1:]))].reshape(p.dims)
                    for p in prog.outputs})
    return out
