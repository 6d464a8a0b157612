"""Every contract violation stops the run with a precise EmulatorFault (index, kind, bank, address,
one-line message); nothing is silently fixed up."""

import numpy as np
import pytest

from vairun.emu import EmulatorFault, Machine
from xir.isa import ElewType, PadMode, encode, make
from xir.target import load_target

B512 = load_target("DPUCZDX8G/B512")  # PP 4, 8-byte lines, banks 0..17, depth 2048
LOAD, CONV, MISC = 0b0001, 0b0100, 0b1000


def machine():
    m = Machine(B512)
    m.set_reg(0, np.zeros(256, np.int8))
    m.set_reg(1, np.zeros(64, np.int8), shared=True)
    return m


def fault_of(stream, m=None) -> EmulatorFault:
    with pytest.raises(EmulatorFault) as info:
        (m or machine()).run(stream)
    exc = info.value
    assert "\n" not in str(exc) and exc.message
    return exc


def conv_pair(**conv_fields):
    init = make("CONVINIT", valid_pixel_parallel=conv_fields.pop("rows", 1), kernel_h=conv_fields.pop("kh", 1),
                jump_read=1, jump_write=1)
    return [init, make("CONV", length=1, **conv_fields), make("END")]


def test_bank_id_the_target_lacks():
    exc = fault_of([make("LOAD", length=1, channel=8), make("LOAD", bank_id=40, length=1, channel=8), make("END")])
    assert (exc.index, exc.kind, exc.bank) == (1, "LOAD", 40)
    assert "bank 40" in exc.message


def test_line_at_or_beyond_the_depth():
    exc = fault_of([make("LOAD", bank_id=3, bank_addr=2046, length=3, jump_write=1, channel=8), make("END")])
    assert (exc.index, exc.bank, exc.address) == (0, 3, 2048)


def test_multi_line_pixel_crossing_the_depth():
    exc = fault_of([make("LOAD", bank_id=2, bank_addr=2047, length=1, channel=9), make("END")])
    assert (exc.bank, exc.address) == (2, 2048)


def test_ddr_access_outside_its_register():
    exc = fault_of([make("LOAD", length=4, channel=8, jump_read=64, jump_write=1, ddr_addr=60), make("END")])
    assert exc.kind == "LOAD" and exc.address == 256 and "register 0" in exc.message


def test_overlapping_pixels_of_one_instruction():
    # a 9-byte pixel spans two 8-byte lines: a jump of one line makes pixels overlap
    exc = fault_of([make("LOAD", bank_id=1, bank_addr=5, length=3, channel=9, jump_write=1), make("END")])
    assert (exc.bank, exc.address) == (1, 6) and "more than once" in exc.message
    assert "overlap" in fault_of([make("SAVE", length=2, channel=8, jump_write=4), make("END")]).message
    init = make("CONVINIT", valid_pixel_parallel=1, jump_read=1, jump_write=0)
    exc = fault_of([init, make("CONV", length=2, bank_id_out=4, bank_addr_out=9), make("END")])
    assert (exc.kind, exc.bank, exc.address) == ("CONV", 4, 9)


def test_register_never_set():
    exc = fault_of([make("SAVE", length=1, channel=8, reg_id=5), make("END")])
    assert exc.kind == "SAVE" and "register 5" in exc.message


def test_save_into_a_shared_register():
    exc = fault_of([make("SAVE", length=1, channel=8, reg_id=1), make("END")])
    assert "shared" in exc.message


@pytest.mark.parametrize("kind,init", [("CONV", "CONVINIT"), ("POOL", "POOLINIT"), ("ALU", "ALUINIT"),
                                       ("DPTWISE", "DWINIT")])
def test_instruction_before_its_init(kind, init):
    exc = fault_of([make(kind, length=1), make("END")])
    assert (exc.index, exc.kind) == (0, kind) and init in exc.message


def test_init_state_does_not_survive_a_run():
    m = machine()
    m.run(conv_pair())
    exc = fault_of([make("CONV", length=1), make("END")], m)
    assert "CONVINIT" in exc.message


def test_missing_elewinit_input():
    stream = [make("ELEWINIT", input_id=0), make("ELEW", num_inputs=2), make("END")]
    exc = fault_of(stream)
    assert (exc.index, exc.kind) == (1, "ELEW") and "input 1" in exc.message


def test_nonzero_shift_read_on_mul():
    stream = [make("ELEWINIT", input_id=0), make("ELEWINIT", input_id=1, shift_read=2, bank_id=1),
              make("ELEW", num_inputs=2, elew_type=int(ElewType.MUL), bank_id_out=4), make("END")]
    assert "shift_read" in fault_of(stream).message


def test_valid_pixel_parallel_above_pp():
    exc = fault_of(conv_pair(rows=5))
    assert exc.kind == "CONV" and "PP = 4" in exc.message
    stream = [make("ELEWINIT", input_id=0), make("ELEW", num_inputs=1, valid_pixel_parallel=5), make("END")]
    assert "PP = 4" in fault_of(stream).message


def test_read_needing_a_fifth_sweep():
    # a 16-row kernel over 4 output rows reads 19 rows: five passes over 4 lanes
    exc = fault_of(conv_pair(rows=4, kh=16, bank_id_in=0))
    assert exc.kind == "CONV" and "sweep" in exc.message and exc.bank == 0


def test_slot_position_outside_its_slot():
    init = make("CONVINIT", valid_pixel_parallel=1, stride_h=2, stride_offset_in=2, jump_read=1, jump_write=1)
    assert "stride_offset_in" in fault_of([init, make("CONV", length=1), make("END")]).message
    init = make("POOLINIT", stride_out=1, stride_offset_out=1, jump_read=1, jump_write=1)
    assert "stride_offset_out" in fault_of([init, make("POOL", length=1, bank_id_out=4), make("END")]).message


def test_compute_rows_outside_image_banks():
    exc = fault_of(conv_pair(bank_id_out=12))
    assert exc.bank == 12 and "image banks" in exc.message


def test_channel_offset_masking_a_whole_group():
    assert "channel_offset" in fault_of(conv_pair(channel_offset=8)).message


def test_weights_beyond_the_bank():
    exc = fault_of(conv_pair(bank_addr_weights=2048 - 0))
    assert exc.bank == 8 and exc.address == 2048


def test_padding_larger_than_the_block():
    assert "padding" in fault_of(conv_pair(pad_top=2)).message


def test_load_padding_rules():
    assert "pad_start" in fault_of([make("LOAD", length=2, pad_start=2, pad_end=1, channel=8), make("END")]).message
    edge = make("LOAD", length=2, pad_start=2, channel=8, mode_avg=int(PadMode.EDGE))
    assert "EDGE" in fault_of([edge, make("END")]).message


def test_deadlock_names_the_blocked_instruction():
    exc = fault_of([make("LOAD", length=1, channel=8), make("CONVINIT", dpdon=LOAD), make("END")])
    assert (exc.index, exc.kind) == (1, "CONVINIT") and "deadlock" in exc.message


def test_unconsumed_tokens_and_missing_end():
    assert "never consumed" in fault_of([make("LOAD", length=1, channel=8, dpdby=CONV), make("END")]).message
    assert "END" in fault_of([make("LOAD", length=1, channel=8)]).message


def test_undecodable_bytes():
    blob = encode([make("LOAD", length=1, channel=8), make("END")], "ISA1") + b"\x00\x00"
    exc = fault_of(blob)
    assert exc.address == 24 and exc.index is None


def test_fault_stops_the_run_before_later_instructions():
    m = machine()
    seen = []
    with pytest.raises(EmulatorFault):
        m.run([make("LOAD", length=1, channel=8), make("LOAD", bank_id=99, length=1, channel=8),
               make("SAVE", length=1, channel=8, ddr_addr=8), make("END")],
              on_instruction=lambda i, x: seen.append(i))
    assert seen == [0]
