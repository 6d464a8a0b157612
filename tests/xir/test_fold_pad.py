"""fold_pad (xir/transforms/fold_pad.py) folds a zero pad only into an op with padding of its own; a pad
read by any other op (a concat, as in a U-Net's skip join) stays a pad, and canonicalization goes on."""
import xir
from xir.transforms import fold_fix_ops, fold_pad
from xir.transforms.canonicalize import canonicalize

FIX = {"fix_point": 4, "bit_width": 8, "round_mode": "DPU_ROUND"}


def pad_into_concat(paddings):
    g = xir.Graph("unet_join")
    x = g.create_op("x", "data", {"shape": [1, 4, 4, 2], "data_type": "float32"})
    xf = g.create_op("x_fix", "fix", FIX, {"input": [x]})
    p = g.create_op("p", "pad", {"paddings": paddings, "mode": "CONSTANT", "constant_values": [0.0] * 8},
                    {"input": [xf]})
    pf = g.create_op("p_fix", "fix", FIX, {"input": [p]})
    skip = g.create_op("s", "data", {"shape": [1] + [4 + paddings[2] + paddings[3], 4 + paddings[4] + paddings[5]]
                                     + [3], "data_type": "float32"})
    sf = g.create_op("s_fix", "fix", FIX, {"input": [skip]})
    c = g.create_op("cat", "concat", {"axis": -1}, {"input": [sf, pf]})
    g.create_op("cat_fix", "fix", FIX, {"input": [c]})
    return g


def test_a_pad_read_by_a_concat_stays_a_pad():
    for paddings in ([0, 0, 1, 0, 0, 1, 0, 0], [0] * 8):
        h = fold_fix_ops(pad_into_concat(paddings))
        assert fold_pad(h) == []
        assert h.get_op("p_fix").get_type() == "pad-fix"
        canonical, _ = canonicalize(pad_into_concat(paddings))
        assert canonical.get_op("cat_fix").get_input_ops("input")[1].name == "p_fix"
