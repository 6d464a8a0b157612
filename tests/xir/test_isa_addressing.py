"""The row placement rule, checked against hand-computed bank ids and lines."""

import numpy as np
import pytest

from xir.isa import (AddressingError, IsaError, block_extent, block_lines, input_row_slots, make,
                     output_row_slots, row_slots, tile_index, uniform_sweep_bases)


def test_row_slots_hand_computed():
    # PP 8, first bank 14 (lane 6 of the block 8..15), two rows per slot, row 0 at slot position 1
    banks, lines = row_slots(range(6), first_bank=14, pp=8, group=2, phase=1, jump_endl=10,
                             sweep_bases=[100, 200, 300, 400])
    assert banks.tolist() == [14, 15, 15, 8, 8, 9]
    assert lines.tolist() == [110, 100, 110, 200, 210, 200]


def test_row_slots_group_one_walks_lanes_then_sweeps():
    banks, lines = row_slots(range(10), first_bank=0, pp=4, group=1, phase=0, jump_endl=7,
                             sweep_bases=[0, 50, 90])
    assert banks.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert lines.tolist() == [0] * 4 + [50] * 4 + [90] * 2


def test_too_many_sweeps():
    with pytest.raises(AddressingError, match="sweep 4"):
        row_slots(range(33), first_bank=0, pp=8, group=1, phase=0, jump_endl=1, sweep_bases=[0, 1, 2, 3])
    with pytest.raises(IsaError):
        row_slots([0], first_bank=0, pp=0, group=1, phase=0, jump_endl=1, sweep_bases=[0])


def test_block_geometry():
    assert block_extent(8, 2, 3) == 17
    assert tile_index(7, 2, 1).tolist() == [-1, -1, 0, 1, 2, 3, -1]
    assert tile_index(3, 0, 0).tolist() == [0, 1, 2]
    assert uniform_sweep_bases(10, 2, 5, 3) == [10, 20, 30]
    lines = block_lines([100, 200], columns=3, jump=4, groups=2)
    assert lines.shape == (2, 3, 2)
    assert lines[1, 2].tolist() == [208, 209] and lines[0, 0].tolist() == [100, 101]


def test_conv_reads_from_its_init_and_sweep_bases():
    init = make("CONVINIT", stride_h=2, stride_offset_in=1, jump_read_endl=10)
    conv = make("CONV", bank_id_in=14, bank_addr_in=100, bank_addr_in_1=200, bank_addr_in_2=300,
                bank_addr_in_3=400)
    banks, lines = input_row_slots(init, conv, np.arange(6), pp=8)
    assert banks.tolist() == [14, 15, 15, 8, 8, 9]
    assert lines.tolist() == [110, 100, 110, 200, 210, 200]


def test_pool_takes_jump_read_endl_from_pool():
    init = make("POOLINIT", stride_h=1)
    pool = make("POOL", bank_id_in=3, bank_addr_in=5, bank_addr_in_1=60, jump_read_endl=99)
    banks, lines = input_row_slots(init, pool, range(3), pp=4)
    assert banks.tolist() == [3, 0, 1] and lines.tolist() == [5, 60, 60]


def test_output_placement_with_stride_out():
    # transposed-conv style interleave: 2 rows per slot, output row 0 at slot position 1
    init = make("CONVINIT", stride_out=2, stride_offset_out=1, jump_write_endl=16)
    conv = make("CONV", bank_id_out=6, bank_addr_out=1000)
    banks, lines = output_row_slots(init, conv, range(5), pp=8)
    # t = 1..5: step 0,1,1,2,2 -> lanes 6,7,7,8,8 -> banks 6,7,7,0,0; sweep 1 base = 1000 + 2 * 16
    assert banks.tolist() == [6, 7, 7, 0, 0]
    assert lines.tolist() == [1016, 1000, 1016, 1032, 1048]


def test_elew_input_and_output_rows():
    ei = make("ELEWINIT", input_id=1, bank_id=6, bank_addr=40, jump_read_endl=30)
    elew = make("ELEW", bank_id_out=0, bank_addr_out=7, jump_write_endl=11)
    banks, lines = input_row_slots(ei, elew, range(4), pp=8)
    assert banks.tolist() == [6, 7, 0, 1] and lines.tolist() == [40, 40, 70, 70]
    banks, lines = output_row_slots(None, elew, range(9), pp=8)
    assert banks.tolist() == list(range(8)) + [0] and lines.tolist() == [7] * 8 + [18]


def test_wrong_init_is_refused():
    with pytest.raises(IsaError, match="CONVINIT"):
        input_row_slots(make("POOLINIT"), make("CONV"), [0], pp=8)
    with pytest.raises(IsaError, match="does not read image rows"):
        input_row_slots(make("CONVINIT"), make("LOAD"), [0], pp=8)
