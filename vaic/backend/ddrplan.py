"""DDR memory plan of one DPU subgraph: where every feature map lives.

Rules:
- Feature maps are NHWC int8, one image per buffer (batch 1; a runner keeps one copy per image).
  A tensor is seen through a :class:`View`: a buffer, a byte offset (its first channel), and the
  pixel / row strides of the buffer it lives in.
- ``concat-fix`` on channels is done in place: each input produced inside the subgraph by an op that
  writes DDR (conv, depthwise, hard-sigmoid, pool, eltwise, or another in-place concat) is written by its producer
  straight into the concat's buffer at its channel offset (pixel stride = the concat's channels).
  An input that cannot be placed (produced outside the subgraph, a reshape alias, a subgraph output,
  already placed into another concat, repeated) is copied into its slice by a :class:`Copy` job.
- ``reshape-fix``, ``upload`` and ``download`` are aliases (NHWC bytes unchanged) of a dense input; a non-dense input (a concat
  slice) is first copied into a dense buffer of its own.
- A ``strided_slice`` of consecutive channels (the only slice the partitioner places on the DPU) is a
  view of its input: offset by its first channel, the input's pixel and row strides. A slice that is
  a subgraph output is copied into a dense buffer (interface tensors are dense).
- Registers: REG_2 INTERFACE holds the subgraph's input and output tensors, dense, inputs first, in
  the order of ``sg.get_input_tensors()`` / ``get_output_tensors()``; a buffer aliased by an interface
  tensor lives there too. REG_1 WORKSPACE holds the other buffers; a buffer is placed first-fit at
  the lowest address free during its lifetime (first op writing it .. last op reading it, in schedule
  order), so memory whose tensors are dead is reused. REG_0 CONST holds parameters (see params.py).
  Every buffer starts on a 64-byte boundary. The plan is deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import xir

from .errors import TilingError
from .geometry import image_dims
from .program import CONST_REG, INTERFACE_REG, WORKSPACE_REG, TensorPlace

ALIGN = 64
#: op types whose output is written to DDR by SAVE instructions (and so may go straight into a concat)
WRITERS = ("conv2d-fix", "depthwise-conv2d-fix", "transposed-conv2d-fix", "hard-sigmoid-fix", "pool-fix",
           "eltwise-fix", "upsample-fix", "concat-fix")
CONSTS = ("const-fix", "const")

#: ops that move no data: the same NHWC bytes under another name (DPU boundaries, reshapes)
ALIASES = ("reshape-fix", "upload", "download")


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass(eq=False)
class Buffer:
    """A dense NHWC byte buffer in one DDR register."""
    bid: int
    h: int
    w: int
    c: int
    reg: int = WORKSPACE_REG
    addr: int = -1
    first: int = 1 << 30     # schedule index of the first op that writes it
    last: int = -1           # schedule index of the last op that reads it
    names: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.h * self.w * self.c


@dataclass(frozen=True, eq=False)
class View:
    """A tensor's pixels inside a buffer: byte ``offset`` of pixel (0, 0) channel 0 in the buffer,
    ``pix`` bytes between pixels, ``row`` bytes between rows."""
    buf: Buffer
    offset: int
    h: int
    w: int
    c: int
    pix: int
    row: int

    @property
    def reg(self) -> int:
        return self.buf.reg

    @property
    def addr(self) -> int:
        return self.buf.addr + self.offset

    @property
    def dense(self) -> bool:
        return self.pix == self.c and self.row == self.w * self.c

    def at(self, y: int, x: int, ch: int = 0) -> int:
        """Byte address (inside the register) of pixel (y, x), channel ``ch``."""
        return self.addr + y * self.row + x * self.pix + ch


@dataclass(frozen=True)
class Copy:
    """Copy tensor ``src`` into ``dst`` (a concat slice or a dense buffer), on behalf of op ``op``;
    ``view`` is where ``src`` is read when that is not its own view (a channel slice copied out)."""
    op: str
    src: str
    dst: View
    view: View | None = None

    def source(self, views: dict[str, View]) -> View:
        return self.view if self.view is not None else views[self.src]


@dataclass
class DdrPlan:
    views: dict[str, View]
    buffers: list[Buffer]
    copies: dict[str, list[Copy]]        # op name -> copy jobs emitted at that op
    reg_sizes: dict[int, int]
    inputs: list[TensorPlace]
    outputs: list[TensorPlace]
    internal: list[TensorPlace]
    concat_in_place: dict[str, list[str]]  # concat op -> inputs written in place


def _fp(t: xir.Tensor) -> int:
    return int(t.get_attr("fix_point"))


def plan_ddr(sg: xir.Subgraph, schedule: list[xir.Op]) -> DdrPlan:
    """Place every feature map of the subgraph (schedule: its non-const ops in execution order)."""
    in_tensors = [t for t in sg.get_input_tensors() if t.producer is None or t.producer.get_type() not in CONSTS]
    out_tensors = sg.get_output_tensors()
    out_names = {t.name for t in out_tensors}
    in_names = {t.name for t in in_tensors}
    index = {op.get_name(): i for i, op in enumerate(schedule)}
    buffers: list[Buffer] = []

    def new_buffer(h, w, c) -> Buffer:
        b = Buffer(len(buffers), h, w, c)
        buffers.append(b)
        return b

    def dense_view(buf: Buffer, t: xir.Tensor) -> View:
        h, w, c = image_dims(t)
        return View(buf, 0, h, w, c, c, w * c)

    # 1. in-place concat slices, outermost concat first
    slices: dict[str, tuple[str, int]] = {}          # tensor -> (concat op, channel offset)
    concat_in_place: dict[str, list[str]] = {}
    for op in reversed(schedule):
        if op.get_type() != "concat-fix":
            continue
        name = op.get_name()
        o_fp = _fp(op.get_output_tensor())
        off = 0
        placed = []
        for x in op.get_input_ops("input"):
            t = x.get_output_tensor()
            if _fp(t) != o_fp:
                raise TilingError(name, f"input '{t.name}' has fix position {_fp(t)} but the concat has {o_fp}; "
                                        "an in-place concat copies bytes and cannot requantize")
            ok = (x.get_name() in index and x.get_type() in WRITERS and t.name not in out_names
                  and t.name not in slices and t.name not in in_names)
            if ok:
                slices[t.name] = (name, off)
                placed.append(t.name)
            off += image_dims(t)[2]
        concat_in_place[name] = placed

    # 2. views: interface inputs, then own buffers of writers, then slices (outermost concat first),
    #    then reshape aliases / copies in schedule order
    views: dict[str, View] = {}
    copies: dict[str, list[Copy]] = {}
    for t in in_tensors:
        b = new_buffer(*image_dims(t))
        b.reg = INTERFACE_REG
        b.first = -1
        views[t.name] = dense_view(b, t)
    for op in schedule:
        kind = op.get_type()
        t = op.get_output_tensor()
        if kind in WRITERS:
            if t.name not in slices:
                views[t.name] = dense_view(new_buffer(*image_dims(t)), t)
        elif kind not in ALIASES and kind != "strided_slice":
            raise TilingError(op.get_name(), f"{kind} has no DPU code generator")
    for op in reversed(schedule):
        if op.get_type() != "concat-fix":
            continue
        cv = views[op.get_output_tensor().name]
        off = 0
        for x in op.get_input_ops("input"):
            t = x.get_output_tensor()
            h, w, c = image_dims(t)
            if slices.get(t.name) == (op.get_name(), off) and t.name not in views:
                views[t.name] = View(cv.buf, cv.offset + off, h, w, c, cv.pix, cv.row)
            off += c
    for op in schedule:
        kind = op.get_type()
        t = op.get_output_tensor()
        if kind in ALIASES:
            src = op.get_input_tensor("input")
            if _fp(src) != _fp(t):
                raise TilingError(op.get_name(), f"reshape changes the fix position ({_fp(src)} -> {_fp(t)}); "
                                                 "a DPU reshape is an alias of the same bytes")
            sv = views[src.name]
            h, w, c = image_dims(t)
            if sv.dense:
                views[t.name] = View(sv.buf, sv.offset, h, w, c, c, w * c)
            else:
                b = new_buffer(sv.h, sv.w, sv.c)
                dst = View(b, 0, sv.h, sv.w, sv.c, sv.c, sv.w * sv.c)
                copies.setdefault(op.get_name(), []).append(Copy(op.get_name(), src.name, dst))
                views[t.name] = View(b, 0, h, w, c, c, w * c)
        elif kind == "strided_slice":
            src = op.get_input_tensor("input")
            if _fp(src) != _fp(t):
                raise TilingError(op.get_name(), f"slice changes the fix position ({_fp(src)} -> {_fp(t)})")
            sv = views[src.name]
            dims = src.dims
            c0 = range(*slice(op.get_attr("begin")[-1], op.get_attr("end")[-1], 1).indices(dims[-1])).start
            h, w, c = image_dims(t)
            view = View(sv.buf, sv.offset + c0, h, w, c, sv.pix, sv.row)
            if t.name in out_names:
                b = new_buffer(h, w, c)
                copies.setdefault(op.get_name(), []).append(Copy(op.get_name(), src.name,
                                                                 View(b, 0, h, w, c, c, w * c), view))
                view = View(b, 0, h, w, c, c, w * c)
            views[t.name] = view
        elif kind == "concat-fix":
            cv = views[t.name]
            off = 0
            for x in op.get_input_ops("input"):
                xt = x.get_output_tensor()
                h, w, c = image_dims(xt)
                if slices.get(xt.name) != (op.get_name(), off):
                    dst = View(cv.buf, cv.offset + off, h, w, c, cv.pix, cv.row)
                    copies.setdefault(op.get_name(), []).append(Copy(op.get_name(), xt.name, dst))
                off += c

    # 3. lifetimes in schedule order
    for i, op in enumerate(schedule):
        kind = op.get_type()
        t = op.get_output_tensor()
        if kind in WRITERS and kind != "concat-fix":
            b = views[t.name].buf
            b.first = min(b.first, i)
        for cp in copies.get(op.get_name(), []):
            cp.dst.buf.first = min(cp.dst.buf.first, i)
            cp.source(views).buf.last = max(cp.source(views).buf.last, i)
        if kind in WRITERS:
            for x in op.get_input_tensors("input"):
                if x.name not in views:
                    raise TilingError(op.get_name(), f"input '{x.name}' is not a feature map of the subgraph")
                views[x.name].buf.last = max(views[x.name].buf.last, i)
    for name, v in views.items():
        v.buf.names.append(name)

    # 4. registers
    for t in out_tensors:
        views[t.name].buf.reg = INTERFACE_REG
    interface = 0
    placed_bufs = set()
    for t in list(in_tensors) + list(out_tensors):
        b = views[t.name].buf
        if b.bid in placed_bufs:
            continue
        placed_bufs.add(b.bid)
        b.addr = interface
        interface += _align(b.size)
    work = _first_fit([b for b in buffers if b.reg == WORKSPACE_REG])

    def place(t: xir.Tensor) -> TensorPlace:
        v = views[t.name]
        return TensorPlace(t.name, v.reg, v.addr, tuple(t.dims), _fp(t),
                           pixel_stride=0 if v.dense else v.pix)
    inputs = [place(t) for t in in_tensors]
    outputs = [place(t) for t in out_tensors]
    io = in_names | out_names
    internal = [place(op.get_output_tensor()) for op in schedule if op.get_output_tensor().name not in io]
    regs = {CONST_REG: 0, WORKSPACE_REG: work, INTERFACE_REG: interface}
    return DdrPlan(views, buffers, copies, regs, inputs, outputs, internal, concat_in_place)


def _first_fit(bufs: list[Buffer]) -> int:
    """Assign workspace addresses; returns the register size."""
    live: list[Buffer] = []
    top = 0
    for b in sorted(bufs, key=lambda b: (b.first, b.bid)):
        live = [x for x in live if x.last >= b.first]
        size = _align(b.size)
        addr = 0
        for x in sorted(live, key=lambda x: x.addr):
            if addr + size <= x.addr:
                break
            addr = max(addr, x.addr + _align(x.size))
        b.addr = addr
        live.append(b)
        top = max(top, addr + size)
    return top
