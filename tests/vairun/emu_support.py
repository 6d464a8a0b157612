"""Helpers of the emulator tests: build LOAD -> compute -> SAVE streams the way a code generator
would, placing rows with the xir.isa addressing helpers, and read results back from DDR."""

from __future__ import annotations

import numpy as np

from vairun.emu import Machine
from xir.isa import Engine, input_row_slots, make, output_row_slots

IN_REG, OUT_REG, PARAM_REG = 0, 1, 2


def engine_bit(name: str) -> int:
    return 1 << Engine[name]


def load_rows(banks, lines, *, jump: int, first_row: int, width_px: int, channels: int,
              reg_id: int = IN_REG, ddr_base: int = 0):
    """One LOAD per tile row: DDR rows ``first_row + t`` of an NHWC image (``width_px`` pixels of
    ``channels`` bytes, rows contiguous) to bank ``banks[t]`` line ``lines[t]``."""
    out = []
    for t, (b, line) in enumerate(zip(banks, lines)):
        out.append(make("LOAD", bank_id=int(b), bank_addr=int(line), length=width_px, channel=channels,
                        jump_read=channels, jump_write=jump, reg_id=reg_id,
                        ddr_addr=ddr_base + (first_row + t) * width_px * channels))
    return out


def save_rows(banks, lines, *, jump: int, length: int, channels: int, reg_id: int = OUT_REG, ddr_base: int = 0):
    """One SAVE per output row k: ``length`` pixels of ``channels`` bytes to DDR row k (NHWC)."""
    return [make("SAVE", bank_id=int(b), bank_addr=int(line), length=length, channel=channels, jump_read=jump,
                 jump_write=channels, reg_id=reg_id, ddr_addr=ddr_base + k * length * channels)
            for k, (b, line) in enumerate(zip(banks, lines))]


def load_bytes(bank_id: int, line: int, *, offset: int, nbytes: int, reg_id: int = PARAM_REG):
    """One LOAD of ``nbytes`` consecutive DDR bytes into bank ``bank_id`` from line ``line`` on."""
    return make("LOAD", bank_id=bank_id, bank_addr=line, length=1, channel=nbytes, jump_read=nbytes,
                jump_write=1, reg_id=reg_id, ddr_addr=offset)


def chain(loads, compute, saves, engine: str):
    """loads -> compute (on ``engine``) -> saves -> END, with the minimal token chain."""
    loads, compute, saves = list(loads), list(compute), list(saves)
    loads[-1].dpdby |= engine_bit(engine)
    compute[0].dpdon |= engine_bit("LOAD")
    compute[-1].dpdby |= engine_bit("SAVE")
    saves[0].dpdon |= engine_bit(engine)
    return loads + compute + saves + [make("END")]


def input_slots(init, op, tile_rows: int, pp: int):
    return input_row_slots(init, op, np.arange(tile_rows), pp=pp)


def output_slots(init, op, rows: int, pp: int):
    return output_row_slots(init, op, np.arange(rows), pp=pp)


def flat(x: np.ndarray) -> np.ndarray:
    """NHWC int array -> int8 [batch, bytes]."""
    return np.ascontiguousarray(x.astype(np.int8)).reshape(x.shape[0], -1)


def fill_garbage(machine, rng) -> None:
    """Fill every bank of every image with random bytes, so unwritten or masked bytes show."""
    for g in machine.target.banks:
        for b in g.ids:
            view = machine.bank(b)
            view[...] = rng.integers(-128, 128, size=view.shape, dtype=np.int8)


def rand_q(rng, shape, lo=-128, hi=127):
    return rng.integers(lo, hi + 1, size=shape).astype(np.int64)


def run_block(t, init, op, x, *, engine: str, extra_loads=(), params=None, out_channels=None, batch=None,
              garbage_seed=0, machine=None):
    """Run one compute block over the whole NHWC image ``x`` (its rows are the tile rows of ``op``):
    LOAD the rows (placed by the read rule), LOAD ``params`` into banks with ``extra_loads``,
    run INIT + op, SAVE the output rows; return the output [batch, R, length, out_channels]."""
    batch = x.shape[0] if batch is None else batch
    h, w, c = x.shape[1:]
    rows = op["valid_pixel_parallel"] if "valid_pixel_parallel" in op.fields else init["valid_pixel_parallel"]
    length = op["length"]
    out_channels = c if out_channels is None else out_channels
    banks, lines = input_slots(init, op, h, t.pp)
    loads = load_rows(banks, lines, jump=init["jump_read"], first_row=0, width_px=w, channels=c)
    loads += list(extra_loads)
    obanks, olines = output_slots(init, op, rows, t.pp)
    saves = save_rows(obanks, olines, jump=init["jump_write"], length=length, channels=out_channels)
    stream = chain(loads, [init, op], saves, engine)
    m = machine if machine is not None else Machine(t, batch=batch)
    fill_garbage(m, np.random.default_rng(garbage_seed))
    m.set_reg(IN_REG, flat(x))
    if params is not None:
        m.set_reg(PARAM_REG, np.asarray(params, dtype=np.int8), shared=True)
    m.set_reg(OUT_REG, np.zeros(rows * length * out_channels, np.int8))
    m.run(stream)
    return np.asarray(m.get_reg(OUT_REG)).reshape(batch, rows, length, out_channels)


def register_setup(x: np.ndarray, params: np.ndarray, *, shared: bool, seed: int, out_bytes: int = 4096):
    """``setup(machine)``: garbage in every bank, images ``x`` in IN_REG, ``params`` in PARAM_REG
    (one buffer for the batch when ``shared``) and a zeroed OUT_REG."""
    def setup(m):
        fill_garbage(m, np.random.default_rng(seed))
        m.set_reg(IN_REG, flat(x))
        m.set_reg(PARAM_REG, params, shared=shared)
        m.set_reg(OUT_REG, np.zeros(out_bytes, np.int8))
    return setup


# ------------------------------------------------------------------ both executors


class ExecutorsDiffer(AssertionError):
    """The fast and the reference executor left different memories, INIT state or faults."""


def clone(m: Machine, reference: bool) -> Machine:
    """A machine of the same target and batch holding copies of ``m``'s banks and DDR registers."""
    twin = Machine(m.target, batch=m.batch, threads=1, reference=reference)
    for src, dst in zip(m.banks.data, twin.banks.data):
        dst[...] = src
    for reg, buf in m.ddr.regs.items():
        shared = m.ddr.shared[reg]
        twin.set_reg(reg, buf[0] if shared else buf, shared=shared)
    return twin


def memories(m: Machine) -> dict:
    """Every bank byte (sentinels included), every DDR register and the INIT state of ``m``."""
    out = {f"bank group {g.name}": d for g, d in zip(m.banks.groups, m.banks.data)}
    out.update({f"DDR register {r}": b for r, b in m.ddr.regs.items()})
    out["INIT state"] = sorted((k, tuple(x.fields.items())) for k, (x, _) in m.inits.items())
    out["ELEWINIT state"] = sorted((k, tuple(x.fields.items())) for k, (x, _) in m.elew_inputs.items())
    return out


def assert_same_memories(a: Machine, b: Machine, what: str) -> None:
    ma, mb = memories(a), memories(b)
    if ma.keys() != mb.keys():
        raise ExecutorsDiffer(f"{what}: different registers {sorted(ma)} vs {sorted(mb)}")
    for name, x in ma.items():
        y = mb[name]
        if isinstance(x, np.ndarray):
            if x.shape != y.shape or not np.array_equal(x, y):
                diff = int(np.count_nonzero(x != y)) if x.shape == y.shape else "shape"
                raise ExecutorsDiffer(f"{what}: {name} differs ({diff} bytes)")
        elif x != y:
            raise ExecutorsDiffer(f"{what}: {name} differs")


def run_both(m: Machine, program, isa=None, run=Machine.run, **kw):
    """Run ``program`` on ``m`` and, from a copy of its memories, on the reference executor; raise
    :class:`ExecutorsDiffer` unless both end with the same memories and the same fault (or none).
    Returns (or raises) what ``m``'s run did."""
    ref = clone(m, reference=True)
    got, ref_got = {}, {}
    for machine, box, extra in ((m, got, kw), (ref, ref_got, {})):
        try:
            box["order"] = run(machine, program, isa, **extra)
        except Exception as exc:  # noqa: BLE001 - faults and bugs alike must agree
            box["error"] = exc
    err, ref_err = got.get("error"), ref_got.get("error")
    if (type(err), str(err)) != (type(ref_err), str(ref_err)):
        raise ExecutorsDiffer(f"fast executor: {err!r}; reference executor: {ref_err!r}")
    if err is None and got["order"] != ref_got["order"]:
        raise ExecutorsDiffer("the executors ran the instructions in different orders")
    assert_same_memories(m, ref, "fast vs reference executor")
    if err is not None:
        raise err
    return got["order"]
