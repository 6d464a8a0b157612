"""Tiling and bank placement: the tile layout addresses rows exactly as xir.isa's placement rule,
instruction limits hold, and what cannot be tiled raises TilingError naming the op."""
import numpy as np
import pytest

from test_backend_support import Builder, set_fix, target

from vaic.backend import GENERATED, TilingError, generate
from vaic.backend.banks import Banks, Region, TileLayout
from vaic.backend.context import Halves
from vaic.backend.geometry import Window
from vaic.backend.tiling import make_spatial, row_blocks, search
from xir.isa import row_slots


@pytest.mark.parametrize("seed", range(5))
def test_tile_layout_reads_match_xir_row_placement(seed):
    rng = np.random.default_rng(seed)
    for _ in range(200):
        pp = int(rng.choice([4, 8]))
        g = int(rng.integers(1, 5))
        rows = int(rng.integers(1, 40))
        lay = TileLayout(Region(pp * int(rng.integers(0, 3)), int(rng.integers(0, 50)), 10 ** 6), pp, g,
                         int(rng.integers(1, 30)), 1, rows)
        r0 = int(rng.integers(0, rows))
        n = int(rng.integers(1, rows - r0 + 1))
        rd = lay.read(r0, n)
        if rd is None:
            continue
        banks, lines = row_slots(range(n), first_bank=rd["bank_id_in"], pp=pp, group=g, phase=rd["phase"],
                                 jump_endl=lay.row_lines, sweep_bases=rd["bases"])
        want = [lay.place(r0 + r) for r in range(n)]
        assert list(zip(banks.tolist(), lines.tolist())) == want


def test_row_blocks_respect_four_sweeps_and_lane_blocks():
    # kernel 16 on PP=4: a block must start in the first lane of its tile to stay within 4 sweeps
    win = Window(40, 20, 3, 40, 20, kh=16, kw=16, pt=7, pb=8, pl=7, pr=8)
    assert row_blocks(win, 0, 40, 4, 1) is None
    blocks = row_blocks(win, 0, 1, 4, 1)
    assert blocks is not None and blocks[0].R == 1
    for pp in (4, 8):
        win = Window(50, 20, 3, 25, 10, kh=3, kw=3, sh=2, sw=2, pt=1, pb=1, pl=1, pr=1)
        blocks = row_blocks(win, 0, 25, pp, 2)
        assert sum(b.R for b in blocks) == 25
        for b in blocks:
            assert 1 <= b.R <= pp - b.k0 % pp                      # output stays in one sweep


def test_search_limits_columns_and_slot_jumps():
    win = Window(4, 3000, 3, 4, 3000, kh=3, kw=3, pt=1, pb=1, pl=1, pr=1)
    sp = search(win, 8, 1, 1, lambda n, m, tiles: True)
    assert all(m <= 1024 for _, m in sp.cols) and sum(m for _, m in sp.cols) == 3000
    assert all(s.count <= 1024 for s in sp.spans.values())
    # stride 2 with 16 lines per pixel: rows of one bank slot must be <= 1023 lines apart
    win = Window(8, 100, 256, 4, 50, sh=2, sw=2)
    sp = search(win, 8, 2, 16, lambda n, m, tiles: True)
    assert sp.in_cols * 16 <= 1023 and len(sp.cols) > 1
    assert make_spatial(win, 4, 50, 8, 2, (15, 15, 15, 15)).in_cols * 16 > 1023


def test_halves_alternate():
    h = Halves(100, 1000)
    assert [h.take(10), h.take(10), h.take(10)] == [100, 600, 100]
    assert h.take(700) == 100 and h.take(1001) is None


def test_banks_of_targets():
    b = Banks(target("DPUCADF8H/U250"))
    assert len(b.lane_blocks) == 3 and b.bias_bank == b.weights_first       # biases in weights bank 0
    assert b.weights_area + b.bias_depth == 8192 and b.bias_base == b.weights_area
    b = Banks(target("DPUCZDX8G/B512"))
    assert b.lane_blocks == [(0, 2048), (4, 2048)] and b.bias_bank == 17 and b.weights_area == 2048


def test_generated_op_types():
    assert GENERATED == {"conv2d-fix", "depthwise-conv2d-fix", "hard-sigmoid-fix", "pool-fix", "eltwise-fix",
                         "transposed-conv2d-fix", "concat-fix", "reshape-fix", "strided_slice", "upsample-fix",
                         "upload", "download"}


def _conv_graph(cin, **kw):
    b = Builder()
    b.conv(b.input([1, 3, 3, cin]), 4, name="c", **kw)
    return b


@pytest.mark.parametrize("make,key,match", [
    (lambda: _conv_graph(2100, k=1, pad=[0, 0, 0, 0]), "DPUCZDX8G/B512", "channel groups"),
    (lambda: _conv_graph(8, act="RELU6", fp_o=3), "DPUCZDX8G/KV260", "ReLU6"),
    (lambda: _conv_graph(8, fp_o=-60), "DPUCZDX8G/KV260", "shift_cut"),
])
def test_untileable_convs_raise(make, key, match):
    b = make()
    with pytest.raises(TilingError, match=match) as err:
        generate(b.dpu_subgraph(), b.g, target(key))
    assert err.value.op_name == "c"


def test_round_mode_and_reshape_fix_checked():
    b = _conv_graph(8)
    b.g.get_op("c").get_output_tensor().set_attr("round_mode", "STD_ROUND")
    with pytest.raises(TilingError, match="DPU_ROUND"):
        generate(b.dpu_subgraph(), b.g, target("DPUCZDX8G/KV260"))
    b = Builder()
    x = b.input([1, 2, 2, 4], fp=3)
    r = b.reshape(x, [1, 16], name="r")
    set_fix(r, 4)
    with pytest.raises(TilingError, match="fix position") as err:
        generate(b.dpu_subgraph(), b.g, target("DPUCZDX8G/KV260"))
    assert err.value.op_name == "r"


def test_pool_without_engine_raises():
    b = Builder()
    b.pool(b.input([1, 20, 20, 8]), "AVG", 10, 10, fp_o=4, name="p")
    with pytest.raises(TilingError, match="neither") as err:
        generate(b.dpu_subgraph(), b.g, target("DPUCADF8H/U250"))
    assert err.value.op_name == "p"
    generate(b.dpu_subgraph(), b.g, target("DPUCZDX8G/KV260"))  # the ALU takes it
