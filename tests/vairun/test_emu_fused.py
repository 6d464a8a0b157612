"""Fused re-execution (vairun.emu.fast.program) leaves exactly the state instruction-by-instruction
execution leaves: every bank byte, every DDR byte and the INIT state, for fused LOAD/SAVE moves,
fused CONV groups (shared and per-image parameters, masked and chunked reductions, every finishing
route, overlapping outputs, outputs that overwrite the input block), unfused steps, batches split
over threads; and it falls back to instruction-by-instruction execution (with the same faults) when
the stream or the registers change."""

import numpy as np
import pytest

from emu_support import IN_REG, OUT_REG, PARAM_REG, chain, fill_garbage, flat, load_bytes, rand_q, register_setup
from test_emu_stream import pipeline_stream
from vairun.emu import EmulatorFault, Machine
from vairun.emu.fast.program import timings
from xir.isa import ActType, ElewType, PadMode, encode, make
from xir.kernels import conv2d_fix
from xir.target import load_target

#: every test on both CONV product kernels of the fast executor (conftest.py emu_kernels)
pytestmark = pytest.mark.usefixtures("emu_kernels")

KV260 = load_target("DPUCZDX8G/KV260")
B512 = load_target("DPUCZDX8G/B512")


def snapshot(m: Machine) -> dict:
    state = {f"bank{gi}": d.copy() for gi, d in enumerate(m.banks.data)}
    state.update({f"reg{r}": b.copy() for r, b in m.ddr.regs.items()})
    state["inits"] = {k: dict(v[0].fields) for k, v in m.inits.items()}
    state["elew"] = {k: dict(v[0].fields) for k, v in m.elew_inputs.items()}
    return state


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        else:
            assert a[k] == b[k], k


def run_twice(t, stream, setup, batch: int, threads: int = 1, second=None) -> tuple[dict, dict, Machine]:
    """Run ``stream`` on a fresh machine (instruction by instruction), set it up again and run it
    again (fused); returns the state after the fused run, the state of a third machine that ran it
    instruction by instruction only, and the machine."""
    m = Machine(t, batch=batch, threads=threads)
    setup(m)
    m.run(stream)
    setup(m)
    with timings() as tm:
        m.run(stream if second is None else second)
    assert tm, "the second run must take the fused path"
    fused = snapshot(m)
    ref = Machine(t, batch=batch)
    setup(ref)
    ref.run(stream if second is None else second, on_instruction=lambda i, x: None)
    return fused, snapshot(ref), m


# ------------------------------------------------------------------ streams


def conv_layer_stream(t, *, cin, kernel, groups_out, act, shift_cut=7, shift_bias=3, rows=4, length=6,
                      stride=1, pad=1, params_reg=PARAM_REG, overlap=False, self_overwrite=False):
    """One block of a conv layer as a code generator writes it: input rows, the weights of
    ``groups_out`` OCP groups and their biases, CONVINIT, one CONV per OCP group over the same input
    block (output group j at line offset j of every pixel), SAVEs."""
    kh, kw = kernel
    icp, ocp = t.icp, t.ocp
    groups = -(-cin // icp)
    w_px = (length - 1) * stride + kw - 2 * pad
    tile_rows = (rows - 1) * stride + kh - 2 * pad
    init = make("CONVINIT", kernel_h=kh, kernel_w=kw, stride_h=stride, stride_w=stride, valid_pixel_parallel=rows,
                shift_cut=shift_cut, shift_bias=shift_bias, act_type=int(act), jump_read=groups,
                jump_read_endl=w_px * groups, jump_write=groups_out, jump_write_endl=length * groups_out)
    loads = []
    # tile row r in bank r % PP (stride 1: one row per slot), sweep bases 0 / 400
    for r in range(tile_rows):
        loads.append(make("LOAD", bank_id=r % t.pp, bank_addr=400 * (r // t.pp), length=w_px, channel=cin,
                          jump_read=cin, jump_write=groups, reg_id=IN_REG, ddr_addr=r * w_px * cin))
    wbytes = kh * kw * groups * icp
    for j in range(ocp):
        for g in range(groups_out):
            loads.append(load_bytes(t.weights_group.first_id + j, g * kh * kw * groups,
                                    offset=(g * ocp + j) * wbytes, nbytes=wbytes, reg_id=params_reg))
    loads.append(load_bytes(t.bias_group.first_id, 0, offset=groups_out * ocp * wbytes, nbytes=groups_out * ocp,
                            reg_id=params_reg))
    out_bank = t.image_groups[1].first_id
    convs = []
    for g in range(groups_out):
        convs.append(make("CONV", bank_id_in=0, bank_addr_in=0, bank_addr_in_1=400 if rows > t.pp - 2 else 0,
                          pad_top=pad, pad_bottom=pad, pad_left=pad, pad_right=pad, channel_group=groups,
                          length=length, bank_addr_weights=g * kh * kw * groups, bank_addr_bias=g * ocp // icp,
                          bank_id_out=out_bank, bank_addr_out=g, channel_offset=groups * icp - cin))
    if overlap:  # a second CONV writing the lines of OCP group 0 with other weights: it must win
        convs.append(make("CONV", **{**convs[-1].fields, "bank_addr_out": 0}))
    if self_overwrite:
        # a CONV whose output lands on its own input block, then one more reading that block
        convs.append(make("CONV", **{**convs[0].fields, "bank_id_out": 0, "bank_addr_out": 0}))
        convs.append(make("CONV", **{**convs[-2].fields, "bank_addr_out": 700}))
    saves = []
    for r in range(rows):
        saves.append(make("SAVE", bank_id=out_bank + r, bank_addr=0, length=length, channel=groups_out * ocp,
                          jump_read=groups_out, jump_write=groups_out * ocp, reg_id=OUT_REG,
                          ddr_addr=r * length * groups_out * ocp))
    return chain(loads, [init] + convs, saves, "CONV"), (tile_rows, w_px, cin, wbytes)


def layer_setup(t, geometry, groups_out, batch, seed, params_shared=True, params_seed=None):
    tile_rows, w_px, cin, wbytes = geometry
    rng = np.random.default_rng(seed)
    x = rand_q(rng, (batch, tile_rows, w_px, cin))
    prng = np.random.default_rng(seed + 1 if params_seed is None else params_seed)
    nparams = groups_out * t.ocp * (wbytes + 1)
    params = prng.integers(-128, 128, size=nparams if params_shared else (batch, nparams)).astype(np.int8)
    return register_setup(x, params, shared=params_shared, seed=seed + 2)


# ------------------------------------------------------------------ equivalence


@pytest.mark.parametrize("threads", [1, 2])
def test_double_buffered_pipeline(threads):
    w, tiles, batch = 5, 4, 3
    rng = np.random.default_rng(0)
    x = rand_q(rng, (batch, 8 * tiles, w, 16))
    par = rng.integers(-128, 128, size=272).astype(np.int8)

    def setup(m):
        fill_garbage(m, np.random.default_rng(1))
        m.set_reg(IN_REG, flat(x))
        m.set_reg(PARAM_REG, par, shared=True)
        m.set_reg(OUT_REG, np.zeros(x[0].size, np.int8))
    fused, ref, _ = run_twice(KV260, pipeline_stream(KV260, tiles, w), setup, batch, threads)
    assert_same(fused, ref)


def conv_steps(m: Machine) -> list:
    """The CONV steps of the machine's last program: fused group sizes, or "single"."""
    steps = m.programs[-1][1].program.steps
    return [len(s.group.plans) if hasattr(s, "group") else "single" for s in steps if s.kind == "CONV"]


@pytest.mark.parametrize("case,steps", [
    (dict(cin=3, kernel=(3, 3), groups_out=2, act=ActType.RELU), [2]),          # masked terms left out
    (dict(cin=20, kernel=(3, 3), groups_out=3, act=ActType.LEAKYRELU), [3]),    # int64 route, masked weights
    (dict(cin=48, kernel=(5, 5), groups_out=2, act=ActType.RELU6, pad=2), [2]),  # K = 1200: two chunks
    (dict(cin=16, kernel=(1, 1), groups_out=4, act=ActType.NONE, pad=0, shift_cut=2, shift_bias=-4), [4]),
    (dict(cin=16, kernel=(3, 3), groups_out=2, act=ActType.NONE, shift_cut=50, shift_bias=0),  # reference
     ["single", "single"]),
    (dict(cin=16, kernel=(3, 3), groups_out=2, act=ActType.RELU, overlap=True), [3]),
    (dict(cin=16, kernel=(3, 3), groups_out=2, act=ActType.RELU, self_overwrite=True), [3, 1]),
])
@pytest.mark.parametrize("batch,threads", [(1, 1), (3, 1), (3, 2)])
def test_conv_layers(case, steps, batch, threads):
    stream, geometry = conv_layer_stream(KV260, **case)
    setup = layer_setup(KV260, geometry, case["groups_out"], batch, seed=len(stream))
    fused, ref, m = run_twice(KV260, stream, setup, batch, threads)
    assert_same(fused, ref)
    assert conv_steps(m) == steps
    prog = m.programs[-1][1].program
    assert prog.splittable == (steps[0] != "single")
    groups = [s.group for s in prog.steps if hasattr(s, "group")]
    assert all(g.const_params for g in groups)
    if case["cin"] == 3:
        assert groups[0].inp.by_bytes and groups[0].inp.terms == 27


def test_conv_layer_matches_the_reference_kernel():
    # the fused path is the same as the stepwise one; check once that both mean conv2d_fix
    stream, geometry = conv_layer_stream(KV260, cin=3, kernel=(3, 3), groups_out=2, act=ActType.RELU)
    setup = layer_setup(KV260, geometry, 2, 2, seed=5)
    m = Machine(KV260, batch=2)
    for _ in range(2):
        setup(m)
        m.run(stream)
    params = m.get_reg(PARAM_REG).astype(np.int64)
    wq = params[:2 * 16 * 144].reshape(2, 16, 3, 3, 16)[..., :3].reshape(32, 3, 3, 3)
    bq = params[2 * 16 * 144:2 * 16 * 145]
    x = m.get_reg(IN_REG).astype(np.int64).reshape(2, 4, 6, 3)
    got = np.asarray(m.get_reg(OUT_REG))[:, :4 * 6 * 32].reshape(2, 4, 6, 32)
    # shift_cut 7 = i + w - o, shift_bias 3 = i + w - b with i = 4, w = 5: o = 2, b = 6
    ref = conv2d_fix(x, wq, bq, fp_in=4, fp_w=5, fp_b=6, fp_out=2, pad=(1, 1, 1, 1), nonlinear="RELU")
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("threads", [1, 2])
def test_per_image_parameters(threads):
    # weights loaded from a per-image register: every image has its own, nothing may be shared
    stream, geometry = conv_layer_stream(KV260, cin=16, kernel=(3, 3), groups_out=2, act=ActType.RELU)
    setup = layer_setup(KV260, geometry, 2, 2, seed=11, params_shared=False)
    fused, ref, m = run_twice(KV260, stream, setup, 2, threads)
    assert_same(fused, ref)
    out = fused[f"reg{OUT_REG}"]
    assert not np.array_equal(out[0], out[1])
    assert conv_steps(m) == [2] and not m.programs[-1][1].program.steps[-2].group.const_params


def check_params_follow_shared_register(t, stream, setup_for, batch: int, threads: int | None = None):
    """Run ``stream`` four times on one machine with the shared parameters of seeds 1, 2, 1, 1
    (``setup_for(seed)`` fills a machine): every run equals a fresh machine's, the second run on is
    fused, and changing the parameters changes the result (cached parameters follow the register)."""
    m = Machine(t, batch=batch, threads=threads)
    results = []
    for params_seed in (1, 2, 1, 1):
        setup = setup_for(params_seed)
        setup(m)
        with timings() as tm:
            m.run(stream)
        results.append((bool(tm), snapshot(m)))
        ref = Machine(t, batch=batch)
        setup(ref)
        ref.run(stream)
        assert_same(results[-1][1], snapshot(ref))
    assert [fused for fused, _ in results] == [False, True, True, True]
    assert not np.array_equal(results[0][1][f"reg{OUT_REG}"], results[1][1][f"reg{OUT_REG}"])


def test_shared_parameters_changed_between_runs():
    # the cached float weights follow the shared register's contents
    stream, geometry = conv_layer_stream(KV260, cin=16, kernel=(3, 3), groups_out=2, act=ActType.NONE)
    check_params_follow_shared_register(
        KV260, stream, lambda seed: layer_setup(KV260, geometry, 2, 2, seed=3, params_seed=seed), batch=2)


def test_loads_and_saves_with_padding_broadcast_overlaps_and_constants():
    t = B512  # 8-byte lines
    loads = [
        make("LOAD", bank_id=1, bank_addr=10, jump_write=3, length=6, pad_start=1, pad_end=2, channel=5, pad_idx=4,
             const_value=-7, broadcast=2, reg_id=3, ddr_addr=4, jump_read=7),
        make("LOAD", bank_id=2, bank_addr=13, jump_write=2, length=5, pad_start=2, pad_end=1, channel=6,
             mode_avg=int(PadMode.EDGE), reg_id=IN_REG, ddr_addr=1, jump_read=6),       # overlaps the first
        make("LOAD", bank_id=0, bank_addr=0, jump_write=1, length=40, channel=8, jump_read=8, reg_id=3),
        make("LOAD", bank_id=0, bank_addr=5, jump_write=1, length=3, channel=3, jump_read=3, reg_id=IN_REG,
             ddr_addr=50),                                                                # partial lines
        make("LOAD", bank_id=t.weights_group.first_id, bank_addr=0, jump_write=1, length=1, channel=64,
             jump_read=64, reg_id=3, ddr_addr=100),
    ]
    saves = [
        make("SAVE", bank_id=1, bank_addr=10, length=6, channel=9, jump_read=3, jump_write=9, reg_id=OUT_REG),
        make("SAVE", bank_id=2, bank_addr=10, length=6, channel=12, jump_read=3, jump_write=12, reg_id=OUT_REG,
             ddr_addr=30),                                                     # overlaps the first
        make("SAVE", length=4, channel=5, jump_write=6, reg_id=OUT_REG, ddr_addr=200, const_en=1, const_value=9),
        make("SAVE", bank_id=0, bank_addr=0, length=40, channel=8, jump_read=1, jump_write=8, reg_id=OUT_REG,
             ddr_addr=300),
    ]
    loads[-1].dpdby = 2
    saves[0].dpdon = 1
    stream = loads + saves + [make("END")]
    rng = np.random.default_rng(4)
    shared = rng.integers(-128, 128, 400).astype(np.int8)
    per_image = rng.integers(-128, 128, (3, 120)).astype(np.int8)

    def setup(m):
        fill_garbage(m, np.random.default_rng(5))
        m.set_reg(3, shared, shared=True)
        m.set_reg(IN_REG, per_image)
        m.set_reg(OUT_REG, np.zeros((3, 700), np.int8))
    for threads in (1, 2):
        fused, ref, _ = run_twice(t, stream, setup, 3, threads)
        assert_same(fused, ref)


def _elew_stream(t, n_inputs, elew_type, shift_write, length=4, rows=2):
    inits, loads = [], []
    op = make("ELEW", elew_type=int(elew_type), shift_write=shift_write, length=length, channel_group=1,
              valid_pixel_parallel=rows, num_inputs=n_inputs, bank_id_out=t.image_groups[1].first_id,
              bank_addr_out=500, jump_write=1, jump_write_endl=length)
    for i in range(n_inputs):
        inits.append(make("ELEWINIT", input_id=i, bank_id=0, bank_addr=40 * i, jump_read=1, jump_read_endl=length))
        for r in range(rows):
            loads.append(make("LOAD", bank_id=r, bank_addr=40 * i, length=length, channel=t.icp, jump_read=t.icp,
                              jump_write=1, reg_id=IN_REG, ddr_addr=(i * rows + r) * length * t.icp))
    saves = [make("SAVE", bank_id=t.image_groups[1].first_id + r, bank_addr=500, length=length, channel=t.icp,
                  jump_read=1, jump_write=t.icp, reg_id=OUT_REG, ddr_addr=r * length * t.icp) for r in range(rows)]
    return chain(loads, inits + [op], saves, "MISC")


def test_fault_in_an_unfused_step_of_a_fused_run():
    # ELEW MUL of 9 inputs faults on data whose product could leave int64 (docs §8): the first run
    # (small values) builds the program, the second (large values) must fault at the same
    # instruction with the same state as instruction-by-instruction execution
    t = KV260
    stream = _elew_stream(t, 9, ElewType.MUL, shift_write=0)
    size = 9 * 2 * 4 * 16
    small = np.random.default_rng(1).integers(-2, 3, (2, size)).astype(np.int8)
    large = small.copy()
    large[0] = -128  # only image 0 overflows: the whole batch stops at the ELEW
    states = []
    for fused in (True, False):
        m = Machine(t, batch=2, threads=2)
        fill_garbage(m, np.random.default_rng(3))
        m.set_reg(IN_REG, small)
        m.set_reg(OUT_REG, np.zeros(256, np.int8))
        m.run(stream)
        m.set_reg(IN_REG, large)
        m.set_reg(OUT_REG, np.zeros(256, np.int8))
        with pytest.raises(EmulatorFault) as err:
            m.run(stream, on_instruction=None if fused else (lambda i, x: None))
        states.append((err.value.index, err.value.kind, snapshot(m)))
    assert states[0][:2] == states[1][:2] == (stream.index(next(x for x in stream if x.kind == "ELEW")), "ELEW")
    assert_same(states[0][2], states[1][2])


def test_changed_stream_and_registers_fall_back_to_stepwise_execution():
    stream, geometry = conv_layer_stream(KV260, cin=16, kernel=(3, 3), groups_out=2, act=ActType.RELU)
    setup = layer_setup(KV260, geometry, 2, 1, seed=8)
    m = Machine(KV260)
    setup(m)
    m.run(stream)
    # a field changed in place: the kept program must not be used for the new stream
    conv = next(x for x in stream if x.kind == "CONV")
    conv.fields["bank_addr_out"] = 1
    conv_other = [x for x in stream if x.kind == "CONV"][1]
    conv_other.fields["bank_addr_out"] = 0
    setup(m)
    with timings() as tm:
        m.run(stream)
    assert not tm
    ref = Machine(KV260)
    setup(ref)
    ref.run(stream)
    assert_same(snapshot(m), snapshot(ref))
    # the same stream as bytes: fused (without decoding), same state
    blob = encode(stream, KV260.isa)
    m.run(blob)
    setup(m)
    with timings() as tm:
        m.run(blob)
    assert tm
    assert_same(snapshot(m), snapshot(ref))
    # an output register too small for the SAVEs: the same fault as stepwise execution
    setup(m)
    m.set_reg(OUT_REG, np.zeros(100, np.int8))
    with pytest.raises(EmulatorFault) as fused_err:
        m.run(blob)
    setup(ref)
    ref.set_reg(OUT_REG, np.zeros(100, np.int8))
    with pytest.raises(EmulatorFault) as ref_err:
        ref.run(blob)
    assert (fused_err.value.index, fused_err.value.kind, fused_err.value.message) == \
        (ref_err.value.index, ref_err.value.kind, ref_err.value.message)
    assert_same(snapshot(m), snapshot(ref))
    # the parameters now per image: the program (built for a shared register) is not used
    setup(m)
    m.set_reg(PARAM_REG, np.asarray(m.get_reg(PARAM_REG)).copy(), shared=False)
    with timings() as tm:
        m.run(blob)
    assert not tm


def test_init_state_after_a_fused_run():
    stream = _elew_stream(KV260, 2, ElewType.ADD, shift_write=1)
    stream2, _ = conv_layer_stream(KV260, cin=16, kernel=(1, 1), groups_out=1, act=ActType.RELU, pad=0)
    for s in (stream, stream2):
        m = Machine(KV260)
        m.set_reg(IN_REG, np.ones(4096, np.int8))
        m.set_reg(PARAM_REG, np.ones(4096, np.int8), shared=True)
        m.set_reg(OUT_REG, np.zeros(4096, np.int8))
        m.run(s)
        first = snapshot(m)
        m.inits.clear()
        m.elew_inputs.clear()
        with timings() as tm:
            m.run(s)
        assert tm
        assert first["inits"] == snapshot(m)["inits"] and first["elew"] == snapshot(m)["elew"]
        assert first["inits"] or first["elew"]


def test_program_built_on_the_second_run_and_kept_across_hook_runs():
    stream, geometry = conv_layer_stream(KV260, cin=16, kernel=(1, 1), groups_out=2, act=ActType.RELU, pad=0)
    setup = layer_setup(KV260, geometry, 2, 1, seed=21)
    m = Machine(KV260)
    setup(m)
    m.run(stream)
    kept = m.programs[-1][1]
    assert kept.program is None                      # a stream run once does not pay for fusing
    setup(m)
    m.run(stream, on_instruction=lambda i, x: None)  # a hook run leaves it as it is
    assert m.programs[-1][1] is kept and kept.program is None
    setup(m)
    m.run(stream)
    program = kept.program
    assert program is not None
    fused = snapshot(m)
    setup(m)
    m.run(stream, on_instruction=lambda i, x: None)
    assert m.programs[-1][1] is kept and kept.program is program
    assert_same(snapshot(m), fused)


def test_later_changes_of_the_first_runs_instructions_do_not_reach_the_program():
    import copy
    stream, geometry = conv_layer_stream(KV260, cin=16, kernel=(3, 3), groups_out=2, act=ActType.RELU)
    twin = copy.deepcopy(stream)
    setup = layer_setup(KV260, geometry, 2, 1, seed=31)
    m = Machine(KV260)
    setup(m)
    m.run(stream)
    for x in stream:  # the caller reuses its instruction objects for something else
        if x.kind == "CONVINIT":
            x.fields["shift_cut"] = 3
        x.kind = "END" if x.kind == "SAVE" else x.kind
    setup(m)
    with timings() as tm:
        m.run(twin)
    assert tm
    ref = Machine(KV260)
    setup(ref)
    ref.run(twin)
    assert_same(snapshot(m), snapshot(ref))
