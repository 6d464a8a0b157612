"""fold_fix_ops turns a deploy graph into fixed ops, and run_graph executes it through the reference
kernels: checked against direct kernel calls (exact equality)."""
import numpy as np
import pytest

import xir
from xir import fixpoint, kernels
from xir.interp import dequantize_value, run_graph
from xir.kernels import float_ops
from xir.transforms import fold_fix_ops

RNG = np.random.default_rng(7)


def qconst(g, name, shape, fp, round_mode="DPU_ROUND"):
    q = RNG.integers(-128, 128, shape)
    c = g.create_const_op(name, (q * 2.0 ** -fp).astype(np.float32))
    f = g.create_op(name + "_fix", "fix", {"fix_point": fp, "round_mode": round_mode}, {"input": [c]})
    return f, q.astype(np.int8)


def fix(g, op, fp):
    return g.create_op(op.name + "_fix", "fix", {"fix_point": fp}, {"input": [op]})


def build_deploy():
    g = xir.Graph("deploy")
    x = g.create_op("input", "data", {"shape": [2, 7, 7, 3], "data_type": "float32"})
    xf = fix(g, x, 5)
    w, wq = qconst(g, "w", (8, 3, 3, 3), 6)
    b, bq = qconst(g, "b", (8,), 7)
    c = g.create_op("conv", "conv2d", {"kernel": [3, 3], "stride": [2, 2], "pad_mode": "SAME"},
                    {"input": [xf], "weights": [w], "bias": [b]})
    act = g.create_op("act", "relu6", {}, {"input": [c]})
    cf = g.create_op("conv_fix", "fix", {"fix_point": 4}, {"input": [act]})
    hs = g.create_op("hs", "hard-sigmoid", {}, {"input": [cf]})
    hsf = fix(g, hs, 7)
    lk = g.create_op("lk", "leaky-relu", {"alpha": 26 / 256}, {"input": [cf]})
    lkf = fix(g, lk, 4)
    cat = g.create_op("cat", "concat", {"axis": -1}, {"input": [lkf, cf]})
    catf = fix(g, cat, 4)
    ap = g.create_op("ap", "avgpool2d", {"kernel": [3, 3], "stride": [1, 1], "pad": [1, 1, 1, 1]},
                     {"input": [catf]})
    apf = fix(g, ap, 5)
    m = g.create_op("m", "mul", {}, {"input": [hsf, lkf]})
    mf = fix(g, m, 6)
    gp = g.create_op("gp", "avgpool2d", {"kernel": [4, 4], "global": True}, {"input": [apf]})
    gpf = fix(g, gp, 6)
    fl = g.create_op("fl", "flatten", {"start_axis": 1}, {"input": [gpf]})
    fw, fwq = qconst(g, "fw", (5, 16), 7)
    fc = g.create_op("fc", "inner-product", {"axis": 1}, {"input": [fl], "weights": [fw]})
    fcf = fix(g, fc, 3)
    sm = g.create_op("sm", "softmax", {"axis": -1}, {"input": [fcf]})
    return g, {"w": wq, "b": bq, "fw": fwq}


def test_fold_structure():
    g, _ = build_deploy()
    h = fold_fix_ops(g)
    kinds = {o.name: o.get_type() for o in h.toposort()}
    assert kinds["input"] == "data-fix" and kinds["w"] == "const-fix"
    assert kinds["conv_fix"] == "conv2d-fix" and h.get_op("conv_fix").get_attr("nonlinear") == "RELU6"
    assert kinds["hs_fix"] == "hard-sigmoid-fix"
    assert kinds["lk_fix"] == "depthwise-conv2d-fix" and h.get_op("lk_fix").get_attr("nonlinear") == "LEAKYRELU"
    assert kinds["cat_fix"] == "concat-fix" and kinds["ap_fix"] == "pool-fix"
    assert kinds["m_fix"] == "eltwise-fix" and h.get_op("m_fix").get_attr("type") == "MUL"
    assert kinds["fl"] == "reshape-fix" and kinds["fc_fix"] == "inner-product-fix"
    assert kinds["fc_fix_fix2float"] == "fix2float" and kinds["sm"] == "softmax"
    assert "fix" not in kinds.values()
    assert h.get_op("fl").get_output_tensor().get_attr("fix_point") == 6
    h.validate()


def test_run_matches_direct_kernel_calls():
    g, q = build_deploy()
    h = fold_fix_ops(g)
    x = RNG.standard_normal((2, 7, 7, 3)).astype(np.float32) * 2
    got = run_graph(h, {"input": x}, keep_all=True)
    xq = fixpoint.quantize(x, 5)
    assert np.array_equal(got["input"], xq)
    # SAME padding for 7 -> 4 with k3 s2: total 2, split 1/1
    conv = kernels.conv2d_fix(xq, q["w"], q["b"], fp_in=5, fp_w=6, fp_b=7, fp_out=4, stride=(2, 2),
                              pad=(1, 1, 1, 1), nonlinear="RELU6")
    assert np.array_equal(got["conv_fix"], conv)
    hs = kernels.hsigmoid_fix(conv, fp_in=4, fp_out=7)
    lk = kernels.leaky_relu_fix(conv, fp_in=4, fp_out=4)
    assert np.array_equal(got["hs_fix"], hs) and np.array_equal(got["lk_fix"], lk)
    cat = np.concatenate([lk, conv], axis=-1)
    ap = kernels.avgpool_fix(cat, fp_in=4, fp_out=5, kernel=(3, 3), stride=(1, 1), pad=(1, 1, 1, 1))
    assert np.array_equal(got["ap_fix"], ap)
    assert np.array_equal(got["m_fix"], kernels.eltwise_mul_fix([hs, lk], fps_in=[7, 4], fp_out=6))
    gp = kernels.global_avgpool_fix(ap, fp_in=5, fp_out=6)
    fc = kernels.dense_fix(gp.reshape(2, 16), q["fw"], None, fp_in=6, fp_w=7, fp_out=3)
    assert np.array_equal(got["fc_fix"], fc)
    sm = float_ops.softmax(fixpoint.dequantize(fc, 3), axis=-1)
    assert np.array_equal(got["sm"], sm) and got["sm"].dtype == np.float32
    out = run_graph(h, {"input": x})
    assert sorted(out) == ["m_fix", "sm"] and np.array_equal(out["sm"], sm)
    assert np.array_equal(dequantize_value(h, "fc_fix", fc), fixpoint.dequantize(fc, 3))


def test_run_graph_input_errors():
    g, _ = build_deploy()
    h = fold_fix_ops(g)
    with pytest.raises(xir.GraphError, match="needs input\\(s\\) \\['input'\\]"):
        run_graph(h, {})
    with pytest.raises(xir.GraphError, match="expects dims \\[2, 7, 7, 3\\] \\(any batch\\)"):
        run_graph(h, {"input": np.zeros((2, 7, 6, 3))})
    with pytest.raises(xir.GraphError, match="NaN or Inf"):
        run_graph(h, {"input": np.full((2, 7, 7, 3), np.nan)})
    with pytest.raises(xir.GraphError, match="outside \\[-128, 127\\]"):
        run_graph(h, {"input": np.full((2, 7, 7, 3), 300, dtype=np.int32)})


def test_refix_of_a_fixed_tensor_requantizes():
    g = xir.Graph("r")
    x = g.create_op("input", "data", {"shape": [1, 2, 2, 3], "data_type": "float32"})
    a = fix(g, x, 6)
    b = g.create_op("again", "fix", {"fix_point": 2}, {"input": [a]})
    h = fold_fix_ops(g)
    assert h.get_op("again").get_type() == "depthwise-conv2d-fix"
    xv = RNG.standard_normal((1, 2, 2, 3)).astype(np.float32)
    got = run_graph(h, {"input": xv})["again"]
    assert np.array_equal(got, fixpoint.requantize(fixpoint.quantize(xv, 6).astype(np.int64), 6, 2))


def test_any_batch_equals_one_image_at_a_time():
    g, _ = build_deploy()
    h = fold_fix_ops(g)
    x = RNG.standard_normal((5, 7, 7, 3)).astype(np.float32)
    whole = run_graph(h, {"input": x}, keep_all=True)
    for i in range(5):
        one = run_graph(h, {"input": x[i:i + 1]}, keep_all=True)
        for k, v in one.items():
            if k in ("w", "b", "fw") or k.endswith("_weights"):
                continue
            assert np.array_equal(whole[k][i:i + 1], v), k


def _reference_quantize_const(data, info):
    """The rule of fold_fix._quantize_const computed over the whole array with np.ldexp."""
    lo, hi = fixpoint.qrange(int(info["bit_width"]), bool(info["if_signed"]))
    if data.dtype == np.float32:
        scaled = np.ldexp(data, int(info["fix_point"]))
        if np.array_equal(scaled, np.trunc(scaled)) and scaled.min(initial=0) >= lo and scaled.max(initial=0) <= hi:
            return scaled.astype(fixpoint.int_dtype(int(info["bit_width"]), bool(info["if_signed"])))
    return fixpoint.quantize(data.astype(np.float64), info["fix_point"], info["bit_width"], info["round_mode"],
                             info["if_signed"])


@pytest.mark.parametrize("fp", [-140, -126, -3, 0, 7, 12, 127, 130])
@pytest.mark.parametrize("bw,signed", [(8, True), (8, False), (4, True), (16, True), (12, False)])
def test_const_quantization_matches_the_whole_array_rule(fp, bw, signed):
    """Block-wise scaling (a float32 multiply where 2**fp is a normal float32) gives what the
    whole-array ldexp rule gives: on the grid, off it by one value, out of range, NaN, empty."""
    from xir.transforms.fold_fix import _CHUNK, _quantize_const
    rng = np.random.default_rng(abs(fp) * 31 + bw)
    lo, hi = fixpoint.qrange(bw, signed)
    info = {"fix_point": fp, "bit_width": bw, "if_signed": signed, "round_mode": "DPU_ROUND"}
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for shape in [(0,), (5,), (3, 4, 2), (_CHUNK + 7,)]:
            n = int(np.prod(shape))
            on_grid = np.ldexp(rng.integers(lo, hi + 1, size=n).astype(np.float64), -fp).astype(np.float32)
            cases = [on_grid]
            if n:
                for bad in (np.ldexp(hi + 1.0, -fp), np.ldexp(0.5, -fp), np.nan, np.ldexp(lo - 1.0, -fp)):
                    x = on_grid.copy()
                    x[rng.integers(n)] = bad
                    cases.append(x)
            for x in cases:
                x = x.reshape(shape)
                try:
                    want = _reference_quantize_const(x, info)
                except ValueError as e:
                    with pytest.raises(ValueError, match=str(e)[:20]):
                        _quantize_const(x, info)
                    continue
                got = _quantize_const(x, info)
                assert got.dtype == want.dtype and got.shape == want.shape
                np.testing.assert_array_equal(got, want)


def test_fold_fix_without_validation_gives_the_same_graph():
    fix = {"bit_width": 8, "if_signed": True, "round_mode": "DPU_ROUND"}
    g = xir.Graph("t")
    x = g.create_op("x", "data", {"shape": [1, 4, 4, 2], "data_type": "float32"})
    fx = g.create_op("x_fix", "fix", {"fix_point": 4, **fix}, {"input": [x]})
    w = g.create_const_op("w", np.full((3, 1, 1, 2), 0.25, np.float32))
    fw = g.create_op("w_fix", "fix", {"fix_point": 6, **fix}, {"input": [w]})
    c = g.create_op("c", "conv2d", {"kernel": [1, 1]}, {"input": [fx], "weights": [fw]})
    g.create_op("c_fix", "fix", {"fix_point": 3, **fix}, {"input": [c]})
    a, b = fold_fix_ops(g), fold_fix_ops(g, validate=False)
    b.validate()
    assert a.to_bytes() == b.to_bytes()


def test_strided_slice_and_reduction_max_run_on_the_running_batch():
    g = xir.Graph("slices")
    x = g.create_op("x", "data", {"shape": [1, 4, 5, 6], "data_type": "float32"})
    s = g.create_op("s", "strided_slice", {"begin": [0, 0, 1, 2], "end": [1, 4, 5, 5]}, {"input": [x]})
    m = g.create_op("m", "reduction_max", {"axis": [3], "keep_dims": True}, {"input": [s]})
    a = RNG.standard_normal((3, 4, 5, 6)).astype(np.float32)
    r = run_graph(g, {"x": a}, outputs=["s", "m"])
    assert np.array_equal(r["s"], a[:, :, 1:5, 2:5])
    assert np.array_equal(r["m"], a[:, :, 1:5, 2:5].max(axis=3, keepdims=True))
