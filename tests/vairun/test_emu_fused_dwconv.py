"""Fused DPTWISE (vairun.emu.fast.dwconv.DwStep in a program) leaves exactly the state
instruction-by-instruction execution leaves: shared and per-image parameters, masked tails, strides,
batch 1 and 3, one and two threads, on every kernel setting (the compiled kernel and numpy's float
route); the cached parameters follow the shared register; a block whose output lines are its own
input lines keeps the numpy route (the compiled kernel writes as it goes)."""

import numpy as np
import pytest

from emu_support import OUT_REG, chain, input_slots, load_bytes, \
    load_rows, output_slots, rand_q, register_setup, save_rows
from test_emu_fused import assert_same, check_params_follow_shared_register, run_twice
from vairun.emu import Machine
from vairun.emu.fast.dwconv import DwStep
from xir.isa import ActType, make
from xir.kernels import depthwise_conv2d_fix
from xir.target import load_target

pytestmark = pytest.mark.usefixtures("emu_kernels")

KV260 = load_target("DPUCZDX8G/KV260")
U250 = load_target("DPUCADF8H/U250")


def dw_layer(t, *, c, h, w, stride, act, fps=(5, 6, 6, 4), out_over_in: bool = False):
    """LOAD the rows of an NHWC image and the depthwise weights and biases (from PARAM_REG), DWINIT,
    one DPTWISE over the whole image (3x3, padding 1), SAVE the rows; and the reference's fix points.
    ``out_over_in``: the output pixels start at the input's first line, in the input's bank."""
    groups = -(-c // t.icp)
    rows = (h + 2 - 3) // stride + 1
    length = (w + 2 - 3) // stride + 1
    fp_in, fp_w, fp_b, fp_out = fps
    init = make("DWINIT", kernel_h=3, kernel_w=3, stride_h=stride, stride_w=stride, act_type=int(act),
                shift_cut=fp_in + fp_w - fp_out, shift_bias=fp_in + fp_w - fp_b, jump_read=groups,
                jump_read_endl=w * groups, jump_write=groups, jump_write_endl=length * groups)
    bank_in = t.image_groups[1].first_id + 3
    op = make("DPTWISE", bank_id_in=bank_in, bank_addr_in=64, bank_addr_in_1=1000,
              pad_top=1, pad_bottom=1, pad_left=1, pad_right=1, channel_group=groups, length=length,
              valid_pixel_parallel=rows, bank_id_out=bank_in if out_over_in else t.image_groups[0].first_id,
              bank_addr_out=64 if out_over_in else 7,
              bank_addr_weights=11, bank_addr_bias=900, channel_offset=groups * t.icp - c)
    banks, lines = input_slots(init, op, h, t.pp)
    loads = load_rows(banks, lines, jump=groups, first_row=0, width_px=w, channels=c)
    wbytes = 9 * groups * t.icp
    loads += [load_bytes(t.dwweights_group.first_id, 11, offset=0, nbytes=wbytes),
              load_bytes(t.bias_group.first_id, 900, offset=wbytes, nbytes=groups * t.icp)]
    obanks, olines = output_slots(init, op, rows, t.pp)
    saves = save_rows(obanks, olines, jump=groups, length=length, channels=c)
    return chain(loads, [init, op], saves, "MISC"), (rows, length, wbytes + groups * t.icp)


def dw_setup(x, nparams, batch, seed, shared=True, params_seed=None):
    prng = np.random.default_rng(seed + 1 if params_seed is None else params_seed)
    params = prng.integers(-128, 128, size=nparams if shared else (batch, nparams)).astype(np.int8)
    return register_setup(x, params, shared=shared, seed=seed + 2), params


def dw_steps(m: Machine) -> list:
    """The DPTWISE steps of the machine's last program: the DwStep's const_params, or "single"."""
    steps = m.programs[-1][1].program.steps
    return [s.op.const_params if isinstance(getattr(s, "op", None), DwStep) else "single"
            for s in steps if s.kind == "DPTWISE"]


def dw_compiled(m: Machine) -> list[bool]:
    """Whether each fused DPTWISE of the machine's last program runs on the compiled kernel."""
    return [s.op.kernel is not None for s in m.programs[-1][1].program.steps if isinstance(getattr(s, "op", None), DwStep)]


def compiled_expected(setting: str) -> bool:
    return setting in ("auto", "native")


@pytest.mark.parametrize("case,cached", [
    (dict(t=KV260, c=KV260.icp + 5, h=6, w=7, stride=1, act=ActType.RELU6), True),     # masked tail
    (dict(t=KV260, c=32, h=7, w=9, stride=2, act=ActType.NONE), True),
    (dict(t=U250, c=4 * U250.icp, h=4, w=5, stride=1, act=ActType.RELU), True),        # biases in the weights group
    # 144 weight bytes end in part of a 64-byte line: not provably constant, read every run
    (dict(t=U250, c=U250.icp, h=4, w=5, stride=1, act=ActType.RELU), False),
])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("batch,threads", [(1, 1), (1, 2), (3, 2)])
def test_fused_dptwise_equals_stepwise(case, cached, shared, batch, threads, emu_kernels):
    t = case["t"]
    x = rand_q(np.random.default_rng(batch), (batch, case["h"], case["w"], case["c"]))
    stream, (rows, length, nparams) = dw_layer(**case)
    setup, _ = dw_setup(x, nparams, batch, seed=7, shared=shared)
    fused, ref, m = run_twice(t, stream, setup, batch, threads)
    assert_same(fused, ref)
    assert dw_steps(m) == [shared and cached]
    assert dw_compiled(m) == [compiled_expected(emu_kernels)]


@pytest.mark.parametrize("stride", [1, 2])
def test_output_over_the_input_lines_keeps_the_numpy_route(stride, emu_kernels):
    # every window is read before any output is written, so pixels written over input lines that
    # later windows read must not change what those windows see
    t, c = KV260, 2 * KV260.icp
    x = rand_q(np.random.default_rng(11), (2, 6, 7, c))
    stream, (_, _, nparams) = dw_layer(t, c=c, h=6, w=7, stride=stride, act=ActType.RELU, out_over_in=True)
    setup, _ = dw_setup(x, nparams, 2, seed=9)
    fused, ref, m = run_twice(t, stream, setup, 2, 1)
    assert_same(fused, ref)
    assert dw_compiled(m) == [False]


def test_fused_dptwise_means_the_reference_kernel():
    t, c, h, w = KV260, 21, 6, 7
    x = rand_q(np.random.default_rng(0), (2, h, w, c))
    stream, (rows, length, nparams) = dw_layer(t, c=c, h=h, w=w, stride=1, act=ActType.RELU6)
    setup, params = dw_setup(x, nparams, 2, seed=3)
    m = Machine(t, batch=2, threads=2)
    for _ in range(2):
        setup(m)
        m.run(stream)
    groups = -(-c // t.icp)
    wq = params[:9 * groups * t.icp].astype(np.int64).reshape(1, 3, 3, groups * t.icp)[..., :c]
    bq = params[9 * groups * t.icp:][:c].astype(np.int64)
    ref = depthwise_conv2d_fix(x, wq, bq, fp_in=5, fp_w=6, fp_b=6, fp_out=4, pad=(1, 1, 1, 1), nonlinear="RELU6")
    got = np.asarray(m.get_reg(OUT_REG))[:, :rows * length * c].reshape(2, rows, length, c)
    np.testing.assert_array_equal(got, ref)


def test_leaky_dptwise_stays_unfused():
    # LEAKYRELU finishes on the int64 route: the instruction keeps its own planned execution
    x = rand_q(np.random.default_rng(2), (1, 5, 6, 16))
    stream, (_, _, nparams) = dw_layer(KV260, c=16, h=5, w=6, stride=1, act=ActType.LEAKYRELU)
    setup, _ = dw_setup(x, nparams, 1, seed=5)
    fused, ref, m = run_twice(KV260, stream, setup, 1, 2)
    assert_same(fused, ref)
    assert dw_steps(m) == ["single"]


def test_shared_dw_parameters_changed_between_runs():
    # the cached scaled weights and offsets follow the shared register's contents
    x = rand_q(np.random.default_rng(4), (1, 6, 7, 32))
    stream, (_, _, nparams) = dw_layer(KV260, c=32, h=6, w=7, stride=1, act=ActType.RELU)
    check_params_follow_shared_register(
        KV260, stream, lambda seed: dw_setup(x, nparams, 1, seed=3, params_seed=seed)[0], batch=1, threads=2)
