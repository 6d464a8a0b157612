"""LOAD and SAVE move exactly the bytes docs/isa.md §5.2-5.3 describe: padding pixels (CONST, EDGE),
appended pad_idx channels, broadcast to several banks, strided DDR, partial lines left unchanged,
SAVE of a constant, shared (CONST) registers feeding every image."""

import numpy as np

from vairun.emu import Machine
from xir.isa import PadMode, make
from xir.target import load_target

B512 = load_target("DPUCZDX8G/B512")  # 8-byte lines


def bank_pixels(m, bank_id, first_line, count, jump, nbytes, image=0):
    """``count`` pixels of ``nbytes`` bytes from a bank, pixel p at line first_line + p * jump."""
    flat_bank = np.asarray(m.bank(bank_id)[image]).reshape(-1)
    width = m.bank(bank_id).shape[2]
    return np.stack([flat_bank[(first_line + p * jump) * width:(first_line + p * jump) * width + nbytes]
                     for p in range(count)])


def test_load_const_padding_pad_idx_broadcast_and_strided_ddr():
    m = Machine(B512)
    ddr = np.arange(100, dtype=np.int64).astype(np.int8)
    m.set_reg(3, ddr, shared=True)
    for b in range(4):
        m.bank(b)[...] = 55
    op = make("LOAD", bank_id=1, bank_addr=10, jump_write=3, length=6, pad_start=1, pad_end=2, channel=5,
              pad_idx=4, const_value=-7, broadcast=2, mode_avg=int(PadMode.CONST), reg_id=3, ddr_addr=4,
              jump_read=7)
    m.run([op, make("END")])
    want = np.full((6, 9), -7, np.int64)
    for q in range(3):  # DDR pixels land at pixels 1, 2, 3
        want[1 + q, :5] = ddr[4 + 7 * q:9 + 7 * q]
    for b in (1, 2, 3):
        np.testing.assert_array_equal(bank_pixels(m, b, 10, 6, 3, 9), want)
        # bytes 9..15 of each pixel's second line are not written
        np.testing.assert_array_equal(bank_pixels(m, b, 10, 6, 3, 16)[:, 9:], 55)
    assert (np.asarray(m.bank(0)) == 55).all()  # bank 0 untouched


def test_load_edge_padding_copies_nearest_ddr_pixel():
    m = Machine(B512)
    m.set_reg(0, np.arange(1, 25, dtype=np.int8))
    m.run([make("LOAD", bank_id=0, bank_addr=0, jump_write=1, length=7, pad_start=2, pad_end=2, channel=8,
                mode_avg=int(PadMode.EDGE), jump_read=8, reg_id=0), make("END")])
    got = bank_pixels(m, 0, 0, 7, 1, 8)
    src = np.arange(1, 25).reshape(3, 8)
    np.testing.assert_array_equal(got, src[[0, 0, 0, 1, 2, 2, 2]])


def test_load_per_image_and_shared_registers_with_batch():
    m = Machine(B512, batch=2)
    m.set_reg(0, np.array([[1] * 8, [2] * 8], np.int8))
    m.set_reg(1, np.full(8, 9, np.int8), shared=True)
    m.run([make("LOAD", bank_id=0, length=1, channel=8, reg_id=0),
           make("LOAD", bank_id=1, length=1, channel=8, reg_id=1), make("END")])
    np.testing.assert_array_equal(np.asarray(m.bank(0))[:, 0, :], [[1] * 8, [2] * 8])
    np.testing.assert_array_equal(np.asarray(m.bank(1))[:, 0, :], [[9] * 8, [9] * 8])


def test_save_partial_lines_strided_ddr_and_const():
    m = Machine(B512, batch=2)
    bank = m.bank(5)
    bank[...] = np.arange(2 * 2048 * 8).reshape(2, 2048, 8) % 251 - 125
    m.set_reg(4, np.full(64, 100, np.int8))
    m.run([make("SAVE", bank_id=5, bank_addr=20, jump_read=2, length=3, channel=11, jump_write=13, reg_id=4,
                ddr_addr=1),
           make("SAVE", const_en=1, const_value=-3, length=2, channel=4, jump_write=5, reg_id=4, ddr_addr=45,
                bank_id=63),  # the bank is not read with const_en: not even a missing bank id matters
           make("END")])
    out = np.asarray(m.get_reg(4)).astype(np.int64)
    for image in range(2):
        src = np.asarray(bank[image]).reshape(-1)
        want = np.full(64, 100)
        for p in range(3):
            want[1 + 13 * p:12 + 13 * p] = src[(20 + 2 * p) * 8:(20 + 2 * p) * 8 + 11]
        want[45:49] = -3
        want[50:54] = -3
        np.testing.assert_array_equal(out[image], want)


def test_get_reg_shapes_and_read_only():
    m = Machine(B512, batch=3)
    m.set_reg(2, bytes(10), shared=True)
    m.set_reg(6, bytes(12))
    assert m.get_reg(2).shape == (10,) and m.get_reg(6).shape == (3, 12)
    assert not m.get_reg(6).flags.writeable
