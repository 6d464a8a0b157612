"""A stream compiled for fast re-execution: fused steps instead of one handler call per instruction
(no contract rule: a speed device; the results are those of executing the instructions one by one).

Rules:

* A :class:`Program` is built from a run that completed: the execution order and the plan every
  instruction used. It is valid for the same stream (same kinds, fields and dependency bits) on the
  same machine; :meth:`Program.ready` checks, before anything is touched, that the DDR registers
  still allow every access (present, large enough, shared or per image as when it was built). When
  they do not, the machine executes instruction by instruction, which raises the precise fault.
* Steps replace maximal runs of consecutive instructions (in execution order) by one operation with
  the same effect:

  - consecutive LOADs: one byte move per (destination group, source register); consecutive SAVEs:
    one per (register, source group). They read one kind of memory and write the other, so the
    members never read each other's results; where their destinations overlap, the later
    instruction's bytes win (moves.py).
  - consecutive CONVs over one input block: :class:`vairun.emu.fast.conv.ConvGroup`, when the fast
    finishing path applies (it cannot fault) and no member writes the shared input lines.
  - a DPTWISE on the float route of the fast finishing (it cannot fault):
    :class:`vairun.emu.fast.dwconv.DwStep`, its planned execution with its parameters cached.
  - INITs and END: nothing at run time (the plans of the instructions after them hold their
    state); every other instruction: its own planned execution, whose faults name it.

  Fused steps cannot fault: their DDR accesses are covered by :meth:`Program.ready` and their
  arithmetic by :func:`vairun.emu.fast.finish.fast_finish`. So when an unfused step faults, every
  earlier instruction has had exactly its effect, as in instruction-by-instruction execution.
* Parameters: walking the execution order, the builder marks the lines of the weights, bias and
  depthwise-weights groups whose last write (in this run) was a whole-line LOAD from a register
  shared by the batch. CONVs whose weight and bias lines are all marked hold the same parameters in
  every image, a function of the shared registers' contents: their float weight matrices are built
  once per content (:meth:`vairun.emu.ddr.Ddr.const_key`) and multiplied with the whole batch at once.
  Likewise a DPTWISE whose depthwise-weight and bias lines are all marked: its scaled weights and
  finishing offsets are computed once per content.
* After a fused run the INIT state is what instruction-by-instruction execution leaves (the last
  INIT of each kind, and of each ELEWINIT input id).
* Threads: the images of a batch never exchange data (each has its own banks and per-image
  registers; shared registers are only read), so a program none of whose steps can fault runs the
  batch split into contiguous parts, one thread per part (``Machine.threads``), each executing every
  step on views of its images, with the BLAS capped at one thread meanwhile (blas.py). With a step
  that can fault, the batch runs in one thread, so that a fault leaves every image where
  instruction-by-instruction execution leaves it. A batch of one image runs in one thread (only
  the BLAS may use more): splitting a step's output pixels over threads was measured slower on two
  cores, as handing work to another Python thread and back (waking it, the GIL around every numpy
  call) costs about as much as the half step it saves. Whether a run in one thread lets the BLAS
  use its threads is measured per program (blas_choice.py).

:func:`timings` collects the wall time of the fused steps by instruction kind (benchmarks; with
threads, the steps of the first part, which run concurrently with the others).
"""

from __future__ import annotations

import copy
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext

import numpy as np

from . import accel, alu, blas, blas_choice, conv, dwconv, elew, load_save, pool
from ..faults import EmulatorFault
from .moves import Mover, Runs, normalize
from .scratch import Scratch

#: Source offsets of different memories in one fused move are kept apart by this stride.
SPACE = 1 << 40

_SINGLE = {
    "POOL": pool.run_pool,
    "ALU": alu.run_alu,
    "DPTWISE": dwconv.run_dptwise,
    "ELEW": elew.run_elew,
    "CONV": conv.run_conv,
}

_timers: dict | None = None
_pool: tuple[ThreadPoolExecutor, int] | None = None
_pool_lock = threading.Lock()


def _executor(workers: int) -> ThreadPoolExecutor:
    """The process's worker threads for batch parts (a larger pool replaces a smaller one)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[1] < workers:
            _pool = (ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vairun-emu"), workers)
        return _pool[0]


class _Part:
    """What the steps see of a machine when they execute images ``lo .. hi - 1`` only."""

    def __init__(self, m, lo: int, hi: int, scratch: Scratch):
        self.target = m.target
        self.batch = hi - lo
        self.banks = m.banks.part(lo, hi)
        self.ddr = m.ddr.part(lo, hi)
        self.scratch = scratch
        self.conv_cols = None
        self.conv_weights = (-1, {})


@contextmanager
def _one_thread():
    """Matrix products in one thread each: the BLAS's and the integer GEMM's thread pools capped."""
    with blas.limited(1), accel.limited(1):
        yield


@contextmanager
def timings():
    """Collect ``{kind: [seconds, instructions]}`` of every fused run inside the ``with`` block."""
    global _timers
    saved, _timers = _timers, {}
    try:
        yield _timers
    finally:
        _timers = saved


class _MoveStep:
    """Consecutive LOADs or SAVEs as byte moves: ``[(dst kind, dst id, src kind, src id, Mover)]``."""

    __slots__ = ("kind", "first", "count", "moves", "written")
    can_fault = False

    def __init__(self, kind: str, first: int, count: int, moves):
        self.kind, self.first, self.count, self.moves = kind, first, count, moves
        self.written = sorted({d for k, d, *_ in moves if k == "bank"})

    def run(self, m, const_key) -> None:
        banks, regs = m.banks.flat, m.ddr.regs
        for dst_kind, dst_id, src_kind, src_id, mover in self.moves:
            dst = banks[dst_id] if dst_kind == "bank" else regs[dst_id]
            src = None if src_kind is None else (banks[src_id] if src_kind == "bank" else regs[src_id])
            mover.run(dst, src)
        version = m.banks.version
        for gi in self.written:
            version[gi] += 1


def _moves(dst_kind: str, parts: dict[int, list[tuple[str | None, int, Runs]]]):
    """Movers from runs tagged with their source: one per (destination, source) after resolving
    overlaps across all the sources of a destination (the run listed last wins)."""
    out = []
    for dst_id, tagged in parts.items():
        spaces = sorted({(k, s) for k, s, _ in tagged if k is not None})
        code = {sp: i for i, sp in enumerate(spaces)}
        runs = Runs.concat([Runs(r.dst, np.where(r.src >= 0, r.src + code[(k, s)] * SPACE, -1), r.length, r.value)
                            if k is not None else r for k, s, r in tagged])
        norm = normalize(runs)
        const = norm.src < 0
        space_of = np.where(const, -1, norm.src // SPACE)
        for (k, s), i in code.items():
            sel = space_of == i
            if sel.any():
                out.append((dst_kind, dst_id, k, s, Mover(Runs(norm.dst[sel], norm.src[sel] - i * SPACE,
                                                                 norm.length[sel], norm.value[sel]))))
        if const.any():
            out.append((dst_kind, dst_id, None, None, Mover(Runs(norm.dst[const], norm.src[const],
                                                                   norm.length[const], norm.value[const]))))
    return out


class _ConvStep:
    __slots__ = ("kind", "first", "count", "group")
    can_fault = False

    def __init__(self, first: int, group):
        self.kind, self.first, self.count, self.group = "CONV", first, len(group.plans), group

    def run(self, m, const_key) -> None:
        self.group.run(m, const_key)


class _DwStep:
    """A DPTWISE on the float route (``op``: :class:`vairun.emu.fast.dwconv.DwStep`)."""

    __slots__ = ("kind", "first", "count", "op")
    can_fault = False

    def __init__(self, first: int, op):
        self.kind, self.first, self.count, self.op = "DPTWISE", first, 1, op

    def run(self, m, const_key) -> None:
        self.op.run(m, const_key)


class _SingleStep:
    __slots__ = ("kind", "first", "count", "fn", "plan", "can_fault")

    def __init__(self, kind: str, index: int, fn, plan):
        self.kind, self.first, self.count, self.fn, self.plan = kind, index, 1, fn, plan
        # only the reference finishing (and ELEW MUL, the ALU) can fault on data
        self.can_fault = kind == "ALU" or getattr(plan, "ff", None) is None

    def run(self, m, const_key) -> None:
        try:
            self.fn(m, self.plan)
        except EmulatorFault as exc:
            raise exc.at(self.first, self.kind) from None


def _copy(instr):
    """A copy of an instruction that later changes of ``instr`` do not reach."""
    dup = copy.copy(instr)
    dup.fields = dict(instr.fields)
    return dup


class Kept:
    """A stream that ran to its end on machine ``m``: what its :class:`Program` is built from (taken
    now, so later changes of the caller's instruction objects do not reach it), built when the stream
    runs a second time (a stream run once does not pay for it)."""

    __slots__ = ("args", "program")

    def __init__(self, m, instrs, order, trace):
        kinds = [x.kind for x in instrs]
        final_inits = {k: _copy(x) for k, (x, _) in m.inits.items()}
        final_elew = {k: _copy(x) for k, (x, _) in m.elew_inputs.items()}
        self.args = (kinds, order, trace, dict(m.ddr.shared), final_inits, final_elew)
        self.program = None

    def get(self, m) -> "Program":
        if self.program is None:
            self.program = Program(m, *self.args)
            self.args = None
        return self.program


class Program:
    """The fused form of one stream on one machine (see the module docstring)."""

    def __init__(self, m, kinds, order, trace, shared: dict[int, bool], final_inits: dict, final_elew: dict):
        """``kinds``: the kind of every instruction; ``trace``: ``(index, plan)`` of every executed
        instruction, in execution order (plan None for INITs and END); ``shared``: which DDR
        registers were shared by the batch in that run; ``final_inits``/``final_elew``: the INIT
        state it left (copies)."""
        self.shared = shared
        self.order = tuple(order)
        self.steps = []
        self.needs: dict[int, list] = {}   # reg -> [shared?, bytes needed]
        banks = m.banks
        const_lines = {gi: np.zeros(g.count * g.depth, dtype=bool)
                       for gi, g in enumerate(banks.groups) if not banks.image[gi]}
        n = len(trace)
        pos = 0
        while pos < n:
            i, plan = trace[pos]
            kind = kinds[i]
            if kind in ("LOAD", "SAVE"):
                end = pos
                while end < n and kinds[trace[end][0]] == kind:
                    end += 1
                self.steps.append(self._move_step(m, trace[pos:end], kind, const_lines))
                pos = end
                continue
            if kind == "CONV" and plan.ff is not None:
                group = [plan]
                end = pos + 1
                while end < n and kinds[trace[end][0]] == "CONV" and conv.can_follow(group, trace[end][1]):
                    group.append(trace[end][1])
                    end += 1
                const = all(self._const_conv(banks, p, const_lines) for p in group)
                self.steps.append(_ConvStep(i, conv.ConvGroup(group, banks, const)))
                pos = end
                continue
            if kind == "DPTWISE" and plan.ff is not None and plan.ff.is_float:
                const = self._const_span(banks, plan.w_span, const_lines) and \
                    self._const_span(banks, plan.bias_span, const_lines)
                self.steps.append(_DwStep(i, dwconv.DwStep(plan, const, banks)))
                pos += 1
                continue
            if kind in _SINGLE:
                self.steps.append(_SingleStep(kind, i, _SINGLE[kind], plan))
            pos += 1
        self.regs = {r: tuple(v) for r, v in self.needs.items()}
        self.splittable = not any(step.can_fault for step in self.steps)
        self.final_inits, self.final_elew = final_inits, final_elew
        self.blas_choice = blas_choice.BlasChoice()

    # ------------------------------------------------------------ building

    def _need(self, m, reg: int, last: int) -> None:
        """Register ``reg`` must exist (shared or not, as now) and hold bytes ``0 .. last``."""
        entry = self.needs.setdefault(reg, [bool(self.shared.get(reg)), 0])
        entry[1] = max(entry[1], last + 1)

    def _move_step(self, m, entries, kind: str, const_lines) -> _MoveStep:
        """Consecutive LOADs (or SAVEs) as one step; LOADs also update the parameter marks."""
        parts: dict[int, list] = {}
        for _, p in entries:
            if kind == "LOAD":
                self._need(m, p.reg_id, p.ddr_last if p.ddr_pixels else -1)
                shared = bool(self.shared.get(p.reg_id))
                for gi, runs in load_save.load_runs(m, p):
                    parts.setdefault(gi, []).append(("reg", p.reg_id, runs))
                for px in p.targets:
                    if px.gi in const_lines:
                        if not shared:
                            const_lines[px.gi][px.idx if px.whole else px.idx // px.width] = False
                        elif px.whole:
                            const_lines[px.gi][px.idx] = True
            else:
                self._need(m, p.reg_id, p.ddr_last)
                runs = load_save.save_runs(m, p)
                src = None if p.const else ("bank", p.source.gi)
                parts.setdefault(p.reg_id, []).append((*(src or (None, None)), runs))
        moves = _moves("bank" if kind == "LOAD" else "reg", parts)
        return _MoveStep(kind, entries[0][0], len(entries), moves)

    @staticmethod
    def _const_conv(banks, p, const_lines) -> bool:
        """Whether every weight and bias line of CONV ``p`` holds parameters from a shared register."""
        marks = const_lines.get(p.w_gi)
        if marks is None:
            return False
        depth = banks.groups[p.w_gi].depth
        w_lines = (np.arange(p.ocp)[:, None] * depth + p.w_line + np.arange(p.nlines)).ravel()
        if not marks[w_lines].all():
            return False
        return Program._const_span(banks, p.bias_span, const_lines)

    @staticmethod
    def _const_span(banks, span, const_lines) -> bool:
        """Whether every line of the byte span ``(group, first line, bytes)`` holds bytes from a shared
        register."""
        gi, first, count = span
        marks = const_lines.get(gi)
        width = banks.groups[gi].width
        return marks is not None and bool(marks[first:first + max(-(-count // width), 1)].all())

    # ------------------------------------------------------------ running

    def _steps(self, m, const_key, timers) -> None:
        if timers is None:
            for step in self.steps:
                step.run(m, const_key)
            return
        for step in self.steps:
            t0 = time.perf_counter()
            step.run(m, const_key)
            slot = timers.setdefault(step.kind, [0.0, 0])
            slot[0] += time.perf_counter() - t0
            slot[1] += step.count

    def ready(self, m) -> bool:
        """Whether every DDR access of the program is allowed by the registers as they are now."""
        regs, shared = m.ddr.regs, m.ddr.shared
        for reg, (was_shared, size) in self.regs.items():
            buf = regs.get(reg)
            if buf is None or shared[reg] != was_shared or buf.shape[1] < size:
                return False
        return True

    def execute(self, m) -> None:
        """Run the program (``ready`` must hold); leaves the INIT state of the stream's end."""
        const_key = m.ddr.const_key()
        parts = min(m.threads, m.batch) if self.splittable else 1
        if parts > 1:
            while len(m.part_scratch) < parts:
                m.part_scratch.append(Scratch())
            cuts = [m.batch * k // parts for k in range(parts + 1)]
            views = [_Part(m, cuts[k], cuts[k + 1], m.part_scratch[k]) for k in range(parts)]
            with _one_thread():
                pending = [_executor(parts - 1).submit(self._steps, v, const_key, None) for v in views[1:]]
                try:
                    self._steps(views[0], const_key, _timers)
                finally:
                    for f in pending:
                        f.result()
            m.banks.touch_all()
        elif m.threads > 1:
            way = self.blas_choice.next()
            t0 = time.perf_counter()
            with _one_thread() if way == blas_choice.ONE else nullcontext():
                self._steps(m, const_key, _timers)
            self.blas_choice.record(way, time.perf_counter() - t0)
        else:
            self._steps(m, const_key, _timers)
        m.inits.clear()
        m.elew_inputs.clear()
        for kind, x in self.final_inits.items():
            m.inits[kind] = (x, tuple(x.fields.values()))
        for input_id, x in self.final_elew.items():
            m.elew_inputs[input_id] = (x, tuple(x.fields.values()))
