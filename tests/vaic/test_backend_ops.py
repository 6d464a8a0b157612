"""Single-op graphs compiled by vaic.backend and run on the DPU emulator equal the reference
interpreter bit for bit, on DPUCZDX8G/B512, DPUCZDX8G/KV260 and DPUCADF8H/U250."""
import pytest

from test_backend_support import TARGETS, Builder, compile_and_check

from vaic.backend import TilingError


def conv_case(shape, cout, **kw):
    def build():
        b = Builder()
        b.conv(b.input(shape), cout, **kw)
        return b
    return build


def dw_case(shape, **kw):
    def build():
        b = Builder()
        b.dwconv(b.input(shape), **kw)
        return b
    return build


def pool_case(shape, kind, k, s, pad=(0, 0, 0, 0), **kw):
    def build():
        b = Builder()
        b.pool(b.input(shape), kind, k, s, pad, **kw)
        return b
    return build


def eltwise_case(shape, fps, kind="ADD", act="NONE", fp_o=4):
    def build():
        b = Builder()
        xs = [b.input(shape, fp=f, name=f"x{i}") for i, f in enumerate(fps)]
        b.eltwise(xs, kind, act=act, fp_o=fp_o)
        return b
    return build


def concat_case():
    b = Builder()
    x = b.input([1, 9, 7, 6], fp=5)
    a = b.conv(x, 10, fp_o=5)
    c = b.conv(x, 7, k=1, fp_o=5)
    d = b.pool(x, "MAX", 3, 1, (1, 1, 1, 1))
    b.concat([a, c, d])
    return b


def dense_case():
    b = Builder()
    x = b.input([1, 200], fp=4)
    r = b.reshape(x, [1, 1, 1, 200])
    c = b.conv(r, 37, k=1, pad=[0, 0, 0, 0], act="RELU")
    b.reshape(c, [1, 37])
    return b


CASES = {
    "conv1x1": conv_case([1, 7, 9, 20], 24, k=1),
    "conv3x3_relu": conv_case([1, 9, 11, 5], 20, k=3, act="RELU"),
    "conv5x5_s2_leaky": conv_case([1, 17, 13, 19], 33, k=5, s=2, act="LEAKYRELU"),
    "conv7x7_s2_pad3": conv_case([1, 23, 21, 3], 16, k=7, s=2),
    "conv3x3_s2_asym_pad": conv_case([1, 12, 10, 8], 9, k=3, s=2, pad=[0, 1, 1, 0]),
    "conv_same_pad": conv_case([1, 10, 13, 4], 6, k=4, s=3, pad=[0, 0, 0, 0], pad_mode="SAME"),
    "conv_relu6_fp4": conv_case([1, 8, 8, 8], 16, k=3, act="RELU6", fp_o=4),
    "conv_relu6_fp6": conv_case([1, 8, 8, 8], 16, k=3, act="RELU6", fp_o=6),
    "conv_no_bias": conv_case([1, 6, 6, 17], 18, k=3, bias=False),
    "conv_neg_shift_bias": conv_case([1, 6, 6, 17], 18, k=3, fp_b=13),
    "conv_wide_column_tiles": conv_case([1, 3, 1500, 3], 8, k=3),
    "conv_tall_row_tiles": conv_case([1, 150, 30, 64], 40, k=3),
    "conv_deep_weight_chunks": conv_case([1, 5, 5, 512], 300, k=3),
    "conv_kernel16": conv_case([1, 20, 18, 3], 5, k=16, pad=[7, 8, 7, 8]),
    "dw3x3_relu": dw_case([1, 13, 17, 19], k=3, act="RELU"),
    "dw5x5_s2": dw_case([1, 13, 17, 19], k=5, s=2),
    "dw_300ch": dw_case([1, 12, 12, 300], k=3),
    "maxpool3x3_s2": pool_case([1, 16, 15, 24], "MAX", 3, 2, (1, 1, 1, 1)),
    "maxpool_ceil": pool_case([1, 15, 15, 8], "MAX", 3, 2, pad_mode="CEIL"),
    "avgpool3x3_s1": pool_case([1, 16, 16, 24], "AVG", 3, 1, (1, 1, 1, 1), fp_o=4),
    "global_avgpool7": pool_case([1, 7, 7, 40], "AVG", 7, 7, fp_o=6, glob=True),
    "alu_avgpool14": pool_case([1, 14, 14, 40], "AVG", 14, 14, fp_o=4),
    "alu_maxpool12": pool_case([1, 30, 30, 8], "MAX", 12, 9, (3, 3, 3, 3)),
    "eltwise_add_relu": eltwise_case([1, 8, 9, 24], [4, 5], act="RELU"),
    "eltwise_add3": eltwise_case([1, 6, 7, 10], [4, 5, 3], fp_o=3),
    "eltwise_mul": eltwise_case([1, 8, 9, 24], [4, 5], kind="MUL", fp_o=5),
    "concat_in_place": concat_case,
    "dense": dense_case,
}
NEEDS_ALU = {"alu_avgpool14", "alu_maxpool12"}


@pytest.mark.parametrize("key", TARGETS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_op_runs_bit_exact(case, key):
    b = CASES[case]()
    if case in NEEDS_ALU and key.startswith("DPUCADF8H"):
        with pytest.raises(TilingError, match="neither the pool engine nor an ALU"):
            compile_and_check(b, key)
        return
    prog = compile_and_check(b, key)
    assert prog.instructions[-1].kind == "END"
    assert all(i.layer for i in prog.instructions[:-1])


def _compile(case, key):
    from test_backend_support import target
    from vaic.backend import generate
    b = CASES[case]()
    return generate(b.dpu_subgraph(), b.g, target(key))


def test_tiling_cases_really_tile():
    """The tiling cases above exercise what their names say (log: "<rows>x<cols> tiles")."""
    prog = _compile("conv_wide_column_tiles", "DPUCZDX8G/KV260")
    assert max(i["length"] for i in prog.instructions if i.kind == "CONV") <= 1024
    assert max(i["length"] for i in prog.instructions if i.kind == "LOAD") <= 1024
    rows, cols = prog.log[0].split(": ")[2].split(" tiles")[0].split("x")
    assert int(cols) > 1
    prog = _compile("conv_tall_row_tiles", "DPUCZDX8G/B512")
    rows, cols = prog.log[0].split(": ")[2].split(" tiles")[0].split("x")
    assert int(rows) > 1
    prog = _compile("conv_deep_weight_chunks", "DPUCZDX8G/KV260")
    assert "1 weight chunk(s)" not in prog.log[0]


OTHER_FAMILIES = ("DPUCADX8G/U250", "DPUCVDX8G/VCK190", "DPUCAHX8H/U50")


@pytest.mark.parametrize("key", OTHER_FAMILIES)
@pytest.mark.parametrize("case", ["conv1x1", "conv3x3_relu", "conv5x5_s2_leaky", "concat_in_place", "dense",
                                  "maxpool3x3_s2", "eltwise_add_relu", "conv_deep_weight_chunks"])
def test_other_families_bit_exact(case, key):
    """ICP 96 with OCP 16 (tails beyond the 5-bit channel_offset, blocks saved one by one), OCP 32
    (two lines per output block), PP 2 lane blocks."""
    compile_and_check(CASES[case](), key)
