"""Hard-sigmoid and hard-swish on the ALU: depthwise ops with HSIGMOID / HSWISH and hard-sigmoid-fix
compile to ALUINIT / ALU DWCONV (hsigmoid_in = input + weights fix position, hsigmoid_out = output),
run bit-exact on the emulator, and go to the CPU where the target's ALU lacks them or their fix
positions do not fit the ALUINIT fields."""
import numpy as np
import pytest

from test_backend_support import Builder, compile_and_check, set_fix, target

from vaic.backend import GENERATED, TilingError, generate
from vaic.passes.support import place
from xir.isa import ActType, AluType

ALU_TARGETS = ("DPUCZDX8G/B512", "DPUCZDX8G/KV260", "DPUCVDX8G/VCK190")


def hsigmoid_op(b: Builder, x, fp_o: int):
    op = b.g.create_op(b._name("hsig"), "hard-sigmoid-fix", {}, {"input": [x]})
    return set_fix(op, fp_o)


def identity_hswish(b: Builder, x, fp_o: int):
    """A separate hard-swish as the fold makes it: 1x1 depthwise, weight 1 at fix 0, no bias."""
    c = x.get_output_tensor().dims[-1]
    w = b.const(np.ones((1, 1, 1, c)), 0)
    op = b.g.create_op(b._name("hswish"), "depthwise-conv2d-fix", {"kernel": [1, 1], "nonlinear": "HSWISH"},
                       {"input": [x], "weights": [w]})
    return set_fix(op, fp_o)


def case(kind, shape=(1, 9, 11, 20), fp_in=4, **kw):
    def build():
        b = Builder()
        x = b.input(list(shape), fp=fp_in)
        if kind == "hsigmoid":
            hsigmoid_op(b, x, **kw)
        elif kind == "identity":
            identity_hswish(b, x, **kw)
        else:
            b.dwconv(x, **kw)
        return b
    return build


CASES = {
    # (builder, expected act, hsigmoid_in, hsigmoid_out)
    "hard_sigmoid_fix": (case("hsigmoid", fp_in=5, fp_o=7), "HSIGMOID", 5, 7),
    "hard_sigmoid_fix_300ch": (case("hsigmoid", (1, 6, 7, 300), fp_in=2, fp_o=9), "HSIGMOID", 2, 9),
    "identity_hswish": (case("identity", fp_in=4, fp_o=4), "HSWISH", 4, 4),
    "identity_hswish_finer_out": (case("identity", fp_in=3, fp_o=6), "HSWISH", 3, 6),
    "dw3x3_hswish": (case("dw", k=3, act="HSWISH", fp_w=7, fp_b=8, fp_o=5), "HSWISH", 11, 5),
    "dw5x5_s2_hsigmoid_neg_shift_bias": (case("dw", (1, 13, 17, 19), k=5, s=2, act="HSIGMOID", fp_w=6, fp_b=13,
                                              fp_o=8), "HSIGMOID", 10, 8),
    "dw3x3_hswish_no_bias": (case("dw", k=3, act="HSWISH", fp_w=5, fp_o=3, bias=False), "HSWISH", 9, 3),
}


@pytest.mark.parametrize("key", ALU_TARGETS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_alu_activation_runs_bit_exact(name, key):
    build, act, h_in, h_out = CASES[name]
    prog = compile_and_check(build(), key)
    kinds = {i.kind for i in prog.instructions}
    assert "DWINIT" not in kinds and "DPTWISE" not in kinds
    inits = [i for i in prog.instructions if i.kind == "ALUINIT"]
    assert inits and all(i["alu_type"] == AluType.DWCONV and i["act_type"] == ActType[act] for i in inits)
    assert {(i["shift_cut"], i["hsigmoid_in"], i["hsigmoid_out"]) for i in inits} == {(0, h_in, h_out)}
    assert any(i.kind == "ALU" for i in prog.instructions)


def test_target_without_alu_activations_refuses_in_the_backend():
    build = CASES["hard_sigmoid_fix"][0]
    b = build()
    with pytest.raises(TilingError, match="does not list HSIGMOID"):
        generate(b.dpu_subgraph(), b.g, target("DPUCADF8H/U250"))


def _op(b: Builder, name: str):
    return next(o for o in b.g.get_ops() if o.get_name().startswith(name))


@pytest.mark.parametrize("key, code", [("DPUCZDX8G/KV260", "ALU"), ("DPUCZDX8G/Ultra96", "ALU"),
                                       ("DPUCVDX8G/VCK190", "ALU"), ("DPUCADF8H/U250", "ACTIVATION"),
                                       ("DPUCAHX8H/U50", "NO_ENGINE"), ("DPUCADX8G/U250", "NO_ENGINE")])
def test_placement_follows_the_alu_list(key, code):
    """On the DPU's ALU where the target lists HSIGMOID / HSWISH, else on the CPU (DPUCADF8H has a
    depthwise engine but no ALU; DPUCAHX8H and DPUCADX8G have neither)."""
    b = Builder()
    x = b.input([1, 8, 8, 16], fp=4)
    identity_hswish(b, hsigmoid_op(b, x, 7), 7)
    t = target(key)
    for name in ("hsig", "hswish"):
        p = place(_op(b, name), t, GENERATED)
        assert (p.device, p.code) == (("DPU", "ALU") if code == "ALU" else ("CPU", code)), (name, p)


@pytest.mark.parametrize("fp_in, fp_o, field", [(-1, -1, "hsigmoid_in"), (16, 12, "hsigmoid_in"),
                                                (4, -1, "hsigmoid_out")])
def test_hswish_fix_positions_outside_the_fields_stay_on_the_cpu(fp_in, fp_o, field):
    b = Builder()
    identity_hswish(b, b.input([1, 8, 8, 16], fp=fp_in), fp_o)
    p = place(_op(b, "hswish"), target("DPUCZDX8G/KV260"), GENERATED)
    assert (p.device, p.code) == ("CPU", "HSIGMOID_FIX_POSITION")
    assert field in p.reason


def test_hard_sigmoid_output_beyond_the_field_stays_on_the_cpu():
    b = Builder()
    hsigmoid_op(b, b.input([1, 8, 8, 16], fp=4), 32)
    p = place(_op(b, "hsig"), target("DPUCZDX8G/KV260"), GENERATED)
    assert (p.device, p.code) == ("CPU", "HSIGMOID_FIX_POSITION") and "hsigmoid_out" in p.reason


def test_alu_depthwise_window_beyond_dptwise_limits():
    """An HSWISH depthwise conv runs on the ALU, so its kernel may exceed DPTWISE's 16."""
    b = Builder()
    b.dwconv(b.input([1, 20, 20, 8], fp=4), k=17, pad=[8, 8, 8, 8], act="HSWISH", fp_w=4, fp_b=6, fp_o=4)
    kv260 = target("DPUCZDX8G/KV260")
    assert place(_op(b, "dw"), kv260, GENERATED).code == "ALU"
    compile_and_check(b, "DPUCZDX8G/KV260")
