"""ELEWINIT/ELEW on the emulator equal eltwise_add_fix / eltwise_mul_fix bit for bit."""

import numpy as np
import pytest

from emu_support import IN_REG, OUT_REG, chain, fill_garbage, flat, load_rows, rand_q, save_rows
from vairun.emu import Machine
from xir.isa import ActType, ElewType, input_row_slots, make, output_row_slots
from xir.kernels import eltwise_add_fix, eltwise_mul_fix
from xir.target import load_target


def elew_case(target_name, xs, *, elew_type, shift_reads, shift_write, act, batch=1):
    """Place every input block (rows x cols x channels) in its own banks, run ELEWINITs + ELEW."""
    t = load_target(target_name)
    rows, length, c = xs[0].shape[1:]
    groups = -(-c // t.icp)
    first_banks = [t.image_groups[0].first_id, t.image_groups[0].first_id + 2, t.image_groups[1].first_id + 1]
    inits, loads = [], []
    plane = rows * length * c
    op = make("ELEW", elew_type=int(elew_type), act_type=int(act), shift_write=shift_write, length=length,
              channel_group=groups, valid_pixel_parallel=rows, num_inputs=len(xs),
              bank_id_out=t.image_groups[1].first_id + 5 % t.pp, bank_addr_out=200, jump_write=groups,
              jump_write_endl=length * groups)
    for i, x in enumerate(xs):
        init = make("ELEWINIT", input_id=i, bank_id=first_banks[i], bank_addr=30 * i + 1, jump_read=groups,
                    jump_read_endl=length * groups, shift_read=shift_reads[i])
        banks, lines = input_row_slots(init, op, np.arange(rows), pp=t.pp)
        loads += load_rows(banks, lines, jump=groups, first_row=0, width_px=length, channels=c,
                           ddr_base=i * plane)
        inits.append(init)
    obanks, olines = output_row_slots(None, op, np.arange(rows), pp=t.pp)
    saves = save_rows(obanks, olines, jump=groups, length=length, channels=c)
    m = Machine(t, batch=batch)
    fill_garbage(m, np.random.default_rng(9))
    m.set_reg(IN_REG, np.concatenate([flat(x) for x in xs], axis=1))
    m.set_reg(OUT_REG, np.zeros(plane, np.int8))
    m.run(chain(loads, inits + [op], saves, "MISC"))
    return np.asarray(m.get_reg(OUT_REG)).reshape(batch, rows, length, c)


@pytest.mark.parametrize("target_name,act", [("DPUCZDX8G/KV260", ActType.NONE), ("DPUCZDX8G/B512", ActType.RELU),
                                             ("DPUCADF8H/U250", ActType.LEAKYRELU)])
def test_elew_add_three_inputs(target_name, act):
    t = load_target(target_name)
    rng = np.random.default_rng(1)
    rows = min(t.pp, 5)
    fps, fp_out = [5, 3, 4], 2
    xs = [rand_q(rng, (1, rows, 6, t.icp + 2)) for _ in fps]
    got = elew_case(target_name, xs, elew_type=ElewType.ADD, shift_reads=[max(fps) - f for f in fps],
                    shift_write=min(fps) - fp_out, act=act)
    ref = eltwise_add_fix(xs, fps_in=fps, fp_out=fp_out, nonlinear=act.name)
    np.testing.assert_array_equal(got, ref)


def test_elew_add_negative_shift_write_relu6():
    rng = np.random.default_rng(2)
    fps, fp_out = [1, 2], 4  # shift_write = min - o = -3: the sum is scaled up
    xs = [rand_q(rng, (1, 3, 4, 16), -12, 12) for _ in fps]
    got = elew_case("DPUCZDX8G/KV260", xs, elew_type=ElewType.ADD, shift_reads=[1, 0], shift_write=-3,
                    act=ActType.RELU6)
    np.testing.assert_array_equal(got, eltwise_add_fix(xs, fps_in=fps, fp_out=fp_out, nonlinear="RELU6"))


def test_elew_mul_two_inputs():
    rng = np.random.default_rng(3)
    fps, fp_out = [4, 5], 6
    xs = [rand_q(rng, (2, 4, 5, 16)) for _ in fps]
    got = elew_case("DPUCZDX8G/KV260", xs, elew_type=ElewType.MUL, shift_reads=[0, 0],
                    shift_write=sum(fps) - fp_out, act=ActType.NONE, batch=2)
    np.testing.assert_array_equal(got, eltwise_mul_fix(xs, fps_in=fps, fp_out=fp_out))
