"""The DDR plan: registers, in-place concat slices, reshape aliases, workspace reuse by lifetime,
tensor attributes, program fields and determinism."""
from test_backend_support import Builder, target

from vaic.backend import CONST_REG, INTERFACE_REG, WORKSPACE_REG, TensorPlace, generate
from vaic.backend.ddrplan import CONSTS, plan_ddr
from xir.isa import encode


def chain(n=6, shape=(1, 20, 20, 16)):
    b = Builder()
    x = b.input(list(shape))
    for _ in range(n):
        x = b.conv(x, 16, fp_o=4, fp_b=7, act="RELU")
    return b


def schedule_of(sg):
    return [op for op in sg.get_ops() if op.get_type() not in CONSTS]


def test_registers_and_interface():
    b = chain(3)
    prog = generate(b.dpu_subgraph(), b.g, target("DPUCZDX8G/KV260"))
    assert set(prog.reg_sizes) == {CONST_REG, WORKSPACE_REG, INTERFACE_REG}
    assert prog.reg_sizes[CONST_REG] == len(prog.const_data)
    assert [p.name for p in prog.inputs] == ["x"] and prog.inputs[0].ddr_addr == 0
    (out,) = prog.outputs
    assert out.reg_id == INTERFACE_REG and out.ddr_addr >= 20 * 20 * 16
    assert prog.reg_sizes[INTERFACE_REG] >= out.ddr_addr + 20 * 20 * 16
    assert all(p.reg_id == WORKSPACE_REG for p in prog.internal)


def test_workspace_reuse_respects_lifetimes():
    b = chain(6)
    sg = b.dpu_subgraph()
    sched = schedule_of(sg)
    plan = plan_ddr(sg, sched)
    work = [buf for buf in plan.buffers if buf.reg == WORKSPACE_REG]
    assert len(work) == 5
    # a chain needs two live buffers at a time: memory is reused
    assert plan.reg_sizes[WORKSPACE_REG] == 2 * 20 * 20 * 16
    for i, a in enumerate(work):
        for c in work[i + 1:]:
            lives_overlap = a.first <= c.last and c.first <= a.last
            bytes_overlap = a.addr < c.addr + c.size and c.addr < a.addr + a.size
            assert not (lives_overlap and bytes_overlap), (a, c)


def test_concat_slices_and_attributes():
    b = Builder()
    x = b.input([1, 6, 5, 4], fp=5)
    p = b.conv(x, 10, fp_o=5, name="p")
    q = b.conv(x, 7, k=1, fp_o=5, name="q")
    b.concat([p, q], name="cat")
    sg = b.dpu_subgraph()
    prog = generate(sg, b.g, target("DPUCZDX8G/KV260"))
    places = {t.name: t for t in prog.inputs + prog.outputs + prog.internal}
    cat, pp_, qq = places["cat"], places["p"], places["q"]
    assert pp_.ddr_addr == cat.ddr_addr and qq.ddr_addr == cat.ddr_addr + 10
    assert pp_.pixel_stride == qq.pixel_stride == 17
    assert qq.stride == [6 * 5 * 17, 5 * 17, 17, 1]
    for op in sg.get_ops():
        t = op.get_output_tensor()
        for attr in ("reg_id", "ddr_addr", "location", "stride", "fix_point", "bit_width", "if_signed",
                     "round_mode"):
            assert t.has_attr(attr), (t.name, attr)
        assert t.get_attr("location") == 1
    assert b.g.get_op("q").get_output_tensor().get_attr("ddr_addr") == qq.ddr_addr
    assert b.g.get_op("q").get_output_tensor().get_attr("stride") == qq.stride
    w = b.g.get_op("p").get_input_op("weights").get_output_tensor()
    assert w.get_attr("reg_id") == CONST_REG and 0 <= w.get_attr("ddr_addr") < len(prog.const_data)


def test_reshape_is_an_alias():
    b = Builder()
    x = b.input([1, 4, 4, 8], fp=5)
    c = b.conv(x, 8, fp_o=5, name="c")
    r = b.reshape(c, [1, 128], name="r")
    b.conv(b.reshape(r, [1, 1, 1, 128], name="r4"), 3, k=1, pad=[0, 0, 0, 0])
    prog = generate(b.dpu_subgraph(), b.g, target("DPUCZDX8G/KV260"))
    places = {t.name: t for t in prog.inputs + prog.outputs + prog.internal}
    assert places["c"].ddr_addr == places["r"].ddr_addr == places["r4"].ddr_addr
    assert not any(i.layer in ("r", "r4") for i in prog.instructions)


def test_tensor_place_stride():
    assert TensorPlace("t", 1, 0, (1, 2, 3, 4), 0).stride == [24, 12, 4, 1]
    assert TensorPlace("t", 1, 0, (1, 2, 3, 4), 0, pixel_stride=10).stride == [60, 30, 10, 1]
    assert TensorPlace("t", 1, 0, (1, 5), 0).stride == [5, 1]


def test_deterministic():
    blobs = []
    for _ in range(2):
        b = Builder(seed=3)
        x = b.input([1, 30, 40, 24], fp=5)
        a = b.conv(x, 40, fp_o=5)
        c = b.concat([a, b.dwconv(x, fp_o=5)])
        b.eltwise([b.conv(c, 24, k=1, fp_o=5), x], fp_o=4)
        tgt = target("DPUCZDX8G/B512")
        prog = generate(b.dpu_subgraph(), b.g, tgt)
        blobs.append((encode(prog.instructions, tgt.isa), prog.const_data, prog.reg_sizes,
                      [(p.name, p.ddr_addr) for p in prog.outputs + prog.internal]))
    assert blobs[0] == blobs[1]


def test_layer_stats():
    b = Builder()
    x = b.input([1, 9, 11, 5])
    b.conv(x, 20, k=3, s=2, name="c")
    b.dwconv(b.g.get_op("c"), name="d")
    tgt = target("DPUCZDX8G/KV260")
    prog = generate(b.dpu_subgraph(), b.g, tgt)
    c, d = prog.layers
    ho, wo = 5, 6
    assert (c.name, c.kind) == ("c", "conv")
    assert c.workload == 2 * ho * wo * 20 * 9 * 5 + ho * wo * 20
    assert c.workload_on_arch == 2 * 8 * wo * 32 * 9 * 16 + 8 * wo * 32
    assert c.params_bytes > 20 * 9 * 5 and d.kind == "depthwise" and d.workload > 0
    assert len(prog.const_data) >= c.params_bytes + d.params_bytes
