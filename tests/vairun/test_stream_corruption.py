"""A stream vaic generated, corrupted in one field, never reproduces the original result on either
executor: the emulator either computes something else or raises a precise EmulatorFault (and never
hangs: the token protocol is checked before anything runs, and nothing loops).

The result of a run is every byte of every per-image DDR register afterwards (the outputs and the
workspace every layer saves to), starting from random bytes, so a SAVE that is dropped or moved
leaves random bytes where the result should be. Mutations are chosen so that they matter (a
corruption that provably cannot change anything is not one the emulator could notice):

* bank addresses of operands (CONV ``bank_addr_bias``, ``bank_addr_weights``; SAVE ``bank_addr``): the
  new address is the first of the listed offsets whose bytes, at the moment the instruction executes
  (the banks are captured right before it), differ from the bytes at the original address -- an
  address moved onto an identical copy reads the same operands, so it is skipped for the next offset;
* bank addresses of placement (CONV/POOL ``bank_addr_in``, ``bank_addr_out``, LOAD ``bank_addr``):
  moving a row moves data every later reader depends on; chosen on the last layers, whose rows the
  SAVEs read;
* arithmetic fields (``shift_cut``, ``shift_bias``, ``act_type``, ELEWINIT ``shift_read``): changed on
  an INIT whose block has outputs the change must alter (shift_cut + 1 halves values that are not
  all in {-1, 0, 1}; act_type swaps RELU and NONE on a layer with negative accumulators);
* DDR addresses and register ids of LOAD and SAVE: another source holds other (random) bytes, another
  destination leaves the original one random; a register that is absent or shared is a fault;
* dependency flags: clearing a set ``dpdby`` or ``dpdon`` bit leaves a token unconsumed or a consumer
  waiting, a fault of the strict token protocol; dropping a SAVE or END.
"""
import copy

import numpy as np
import pytest

from vairun.emu import EmulatorFault, Machine
from vairun.model import load_compiled
from xir.isa import ActType

from flow import compile_zoo

BATCH = 1


class _Stop(Exception):
    pass


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """(target, DpuPlan) of tiny_resnet compiled for KV260: CONV, POOL, ELEW, LOAD, SAVE."""
    model = load_compiled(compile_zoo("tiny_resnet", tmp_path_factory.mktemp("m")))
    (plan,) = model.plans.values()
    return model.target, plan


def _machine(target, plan, reference: bool) -> Machine:
    m = Machine(target, batch=BATCH, threads=1, reference=reference)
    _fill(m, plan)
    return m


def _fill(m: Machine, plan) -> None:
    """Zeroed banks, the parameters and the same random bytes in every per-image register."""
    m.reset()
    rng = np.random.default_rng(7)
    m.set_reg(0, np.frombuffer(plan.const, dtype=np.int8), shared=True)
    for reg, size in sorted(plan.reg_sizes.items()):
        if reg != 0:
            m.set_reg(reg, rng.integers(-128, 128, size=(BATCH, size), dtype=np.int8))


def result(target, plan, instrs, reference: bool, fused: bool = False):
    """Every per-image DDR register after running ``instrs``, or the EmulatorFault raised. ``fused``:
    run the stream a second time from the same memories, which the fast executor executes as its
    fused program (program.py), and report that run."""
    m = _machine(target, plan, reference)
    try:
        m.run(instrs)
        if fused:
            _fill(m, plan)
            m.run(instrs)
    except EmulatorFault as exc:
        return exc
    return {r: m.get_reg(r).copy() for r in sorted(plan.reg_sizes) if r != 0}


def banks_before(target, plan, index: int) -> Machine:
    """The machine right before instruction ``index`` executes (the original stream)."""
    instrs = plan.instructions
    order = Machine.execution_order(instrs)
    pos = order.index(index)
    m = _machine(target, plan, reference=True)
    if pos == 0:
        return m

    def hook(i, _instr):
        if i == order[pos - 1]:
            raise _Stop

    with pytest.raises(_Stop):
        m.run(instrs, on_instruction=hook)
    return m


def mutated(instrs, index: int, **fields):
    out = list(instrs)
    x = copy.copy(out[index])
    x.fields = dict(x.fields)
    for k, v in fields.items():
        if k in ("dpdon", "dpdby"):
            setattr(x, k, v)
        else:
            x.fields[k] = v
    out[index] = x
    return out


def _index(instrs, kind, pick=0, where=lambda x: True):
    hits = [i for i, x in enumerate(instrs) if x.kind == kind and where(x)]
    return hits[pick]


def _differing_offset(m: Machine, read, old: int, offsets) -> int:
    """The first offset whose operand bytes (``read(machine, address)``) differ from the original's
    (None when none does)."""
    original = read(m, old)
    for off in offsets:
        try:
            if not np.array_equal(read(m, old + off), original):
                return off
        except (EmulatorFault, IndexError, ValueError):
            return off   # outside the bank: the emulator must fault
    return None


def _bias_bytes(m, addr):
    t = m.target
    return m.banks.read_span(m.banks.byte_span(t.bias_group.first_id, addr, t.ocp, "bias")).copy()


def _weight_lines(m, addr):
    g = m.target.weights_group
    view = m.banks.lines_view(m.banks.locate(g.first_id, "weights"))
    if addr + 9 > g.depth:
        raise IndexError
    return view[:, :, addr:addr + 9].copy()


def _save_lines(m, addr, op):
    g = m.banks.groups[m.banks.locate(op["bank_id"], "save")]
    first = m.banks.global_line(op["bank_id"], 0)
    if addr + op["length"] * op["jump_read"] > g.depth:
        raise IndexError
    return m.banks.data[m.banks.locate(op["bank_id"], "save")][:, first + addr:first + addr + op["length"] *
                                                                  op["jump_read"]].copy()


def mutations(target, plan):
    """``(label, instructions)`` of the corrupted streams (see the module docstring for the choices)."""
    ins = plan.instructions
    out = []
    convs = [i for i, x in enumerate(ins) if x.kind == "CONV"]
    # operand addresses: CONV biases (the offsets of issue 15) and weights, SAVE sources
    for i in (convs[0], convs[len(convs) // 2], convs[-1]):
        m = banks_before(target, plan, i)
        # the offsets issue 15 tried on bank_addr_bias, each where it reads other bytes
        offsets = [off for off in (1, 2, 5, 37) if _differing_offset(m, _bias_bytes, ins[i]["bank_addr_bias"], [off]) == off]
        assert offsets, f"CONV {i}: the bias lines at +1, +2, +5, +37 all hold the same bytes"
        out += [(f"CONV {i} bank_addr_bias +{off}", mutated(ins, i, bank_addr_bias=ins[i]["bank_addr_bias"] + off))
                for off in offsets]
        off = _differing_offset(m, _weight_lines, ins[i]["bank_addr_weights"], (1, 9, 2, 18, 100))
        assert off is not None
        out.append((f"CONV {i} bank_addr_weights +{off}", mutated(ins, i, bank_addr_weights=ins[i]["bank_addr_weights"] + off)))
    s = _index(ins, "SAVE", -1)
    m = banks_before(target, plan, s)
    off = _differing_offset(m, lambda mm, a: _save_lines(mm, a, ins[s]), ins[s]["bank_addr"], (1, 2, 16, 64))
    assert off is not None
    out.append((f"SAVE {s} bank_addr +{off}", mutated(ins, s, bank_addr=ins[s]["bank_addr"] + off)))
    # placement addresses on the last layers
    for kind in ("CONV", "POOL"):
        i = _index(ins, kind, -1)
        for field in ("bank_addr_in", "bank_addr_out"):
            out.append((f"{kind} {i} {field} +1", mutated(ins, i, **{field: ins[i][field] + 1})))
    i = _index(ins, "LOAD", -1, lambda x: x["reg_id"] != 0)
    out.append((f"LOAD {i} bank_addr +1", mutated(ins, i, bank_addr=ins[i]["bank_addr"] + 1)))
    # arithmetic fields of INITs
    for i in [k for k, x in enumerate(ins) if x.kind == "CONVINIT"][:3]:
        out.append((f"CONVINIT {i} shift_cut +1", mutated(ins, i, shift_cut=ins[i]["shift_cut"] + 1)))
        out.append((f"CONVINIT {i} shift_bias +1", mutated(ins, i, shift_bias=ins[i]["shift_bias"] + 1)))
        act = ActType.NONE if ins[i]["act_type"] == ActType.RELU else ActType.RELU
        out.append((f"CONVINIT {i} act_type {act.name}", mutated(ins, i, act_type=int(act))))
    i = _index(ins, "POOLINIT", 0)
    out.append((f"POOLINIT {i} shift_cut +1", mutated(ins, i, shift_cut=ins[i]["shift_cut"] + 1)))
    i = _index(ins, "ELEWINIT", 0)
    out.append((f"ELEWINIT {i} shift_read +1", mutated(ins, i, shift_read=ins[i]["shift_read"] + 1)))
    # DDR addresses and register ids
    i = _index(ins, "LOAD", 0, lambda x: x["reg_id"] != 0)
    out.append((f"LOAD {i} ddr_addr +{ins[i]['channel']}", mutated(ins, i, ddr_addr=ins[i]["ddr_addr"] + ins[i]["channel"])))
    w = _index(ins, "LOAD", 0, lambda x: x["reg_id"] == 0)
    out.append((f"LOAD {w} ddr_addr +1 (parameters)", mutated(ins, w, ddr_addr=ins[w]["ddr_addr"] + 1)))
    other = next(r for r in sorted(plan.reg_sizes) if r not in (0, ins[i]["reg_id"]))
    out.append((f"LOAD {i} reg_id {other}", mutated(ins, i, reg_id=other)))
    s = _index(ins, "SAVE", 0)
    out.append((f"SAVE {s} ddr_addr +{ins[s]['channel']}", mutated(ins, s, ddr_addr=ins[s]["ddr_addr"] + ins[s]["channel"])))
    out.append((f"SAVE {s} reg_id 0 (shared)", mutated(ins, s, reg_id=0)))
    out.append((f"SAVE {s} reg_id 7 (absent)", mutated(ins, s, reg_id=7)))
    # dependency flags, dropped instructions
    i = next(k for k, x in enumerate(ins) if x.dpdby)
    out.append((f"{ins[i].kind} {i} dpdby cleared", mutated(ins, i, dpdby=0)))
    i = next(k for k, x in enumerate(ins) if x.dpdon)
    out.append((f"{ins[i].kind} {i} dpdon cleared", mutated(ins, i, dpdon=0)))
    for s in (_index(ins, "SAVE", 0), _index(ins, "SAVE", -1)):
        out.append((f"SAVE {s} dropped", ins[:s] + ins[s + 1:]))
    out.append(("END dropped", [x for x in ins if x.kind != "END"]))
    return out


def outcomes(target, plan, reference: bool, fused: bool = False) -> tuple[dict, list]:
    """``({label: outcome}, [labels whose result equals the original])`` over :func:`mutations`."""
    original = result(target, plan, plan.instructions, reference, fused)
    assert not isinstance(original, EmulatorFault), original
    seen, same = {}, []
    for label, instrs in mutations(target, plan):
        got = result(target, plan, instrs, reference, fused)
        if isinstance(got, EmulatorFault):
            assert got.message and got.index is not None, label
            seen[label] = f"fault: {got}"
        elif all(np.array_equal(got[r], original[r]) for r in original):
            same.append(label)
        else:
            seen[label] = "different result"
    return seen, same


@pytest.mark.parametrize("reference,fused", [(False, False), (False, True), (True, False)],
                         ids=["fast", "fast-fused", "reference"])
def test_corrupted_streams_never_give_the_original_result(program, reference, fused):
    """``fast-fused``: the fast executor's second run of each stream, its fused program (CONV groups
    on the integer GEMM where torch provides it, results written straight into the banks)."""
    target, plan = program
    seen, same = outcomes(target, plan, reference, fused)
    assert not same, f"these corruptions left the result unchanged: {same}"
    assert len(seen) >= 35
    assert sum(v.startswith("fault") for v in seen.values()) >= 5


def test_an_executor_that_ignores_bank_addr_bias_is_caught(program, monkeypatch):
    """The test can fail: a CONV that takes its biases from where the first CONV with the same weights
    address found them (a cache keyed by something other than the bank line) is reported."""
    from vairun.emu import reference
    plain, first = reference.OPCODES["CONV"], {}

    def cached_bias(m, op):
        bias = first.setdefault(op["bank_addr_weights"], op["bank_addr_bias"])
        op = copy.copy(op)
        op.fields = dict(op.fields, bank_addr_bias=bias)
        plain(m, op)

    monkeypatch.setitem(reference.OPCODES, "CONV", cached_bias)
    target, plan = program
    _, same = outcomes(target, plan, reference=True)
    assert same and all("bank_addr_bias" in label for label in same)


@pytest.mark.slow
@pytest.mark.parametrize("target_name", ["DPUCZDX8G/B512", "DPUCVDX8G/VCK190", "DPUCAHX8H/U50", "DPUCADF8H/U250"])
def test_corrupted_streams_on_other_targets(tmp_path, target_name):
    model = load_compiled(compile_zoo("tiny_resnet", tmp_path, arch=target_name))
    (plan,) = model.plans.values()
    for reference in (False, True):
        seen, same = outcomes(model.target, plan, reference)
        assert not same and len(seen) >= 35, (reference, same)
