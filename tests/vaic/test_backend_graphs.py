"""Multi-op subgraphs: in-place concats (nested, repeated inputs, slices read by other ops), copies,
reshape aliases, tensors that are both outputs and inputs; every tensor (internal ones too, with
workspace reuse switched off) equals the reference on the emulator."""
import pytest

from test_backend_support import TARGETS, Builder, compile_and_check, sequential_fit

import vaic.backend.ddrplan as ddrplan


@pytest.fixture
def no_reuse(monkeypatch):
    monkeypatch.setattr(ddrplan, "_first_fit", sequential_fit)


def nested_concat():
    b = Builder()
    x = b.input([1, 8, 8, 6], fp=5)
    inner = b.concat([b.conv(x, 10, fp_o=5), b.conv(x, 7, k=1, fp_o=5)])
    outer = b.concat([inner, b.conv(x, 3, fp_o=5)])
    b.conv(outer, 4, fp_o=5)
    return b


def repeated_concat_input():
    b = Builder()
    x = b.input([1, 8, 8, 6], fp=5)
    a = b.conv(x, 10, fp_o=5)
    b.conv(b.concat([a, b.conv(x, 7, k=1, fp_o=5), a]), 5)
    return b


def concat_of_interface_input():
    b = Builder()
    x = b.input([1, 8, 8, 6], fp=5)
    b.concat([b.conv(x, 10, fp_o=5), x])
    return b


def reshape_of_slice():
    b = Builder()
    x = b.input([1, 8, 8, 6], fp=5)
    c = b.conv(x, 7, k=1, fp_o=5)
    cc = b.concat([b.conv(x, 10, fp_o=5), c])
    b.reshape(c, [1, 64, 7])
    b.conv(cc, 5)
    return b


def slice_read_by_pool():
    b = Builder()
    x = b.input([1, 8, 8, 6], fp=5)
    c = b.conv(x, 7, k=1, fp_o=5)
    cc = b.concat([b.conv(x, 10, fp_o=5), c])
    b.pool(c, "MAX", 2, 2)
    b.conv(cc, 5)
    return b


def output_also_internal():
    """conv 'a' is read inside the DPU subgraph and by a CPU op (so it is an interface output)."""
    b = Builder()
    x = b.input([1, 8, 8, 6], fp=5)
    a = b.conv(x, 10, fp_o=5, name="a")
    b.conv(a, 7, k=1, fp_o=5)
    b.pool(a, "MAX", 2, 2, name="on_cpu")
    return b


def concat_input_is_output():
    """'a' feeds a concat and a CPU op: it must stay dense, so it is copied into the concat."""
    b = Builder()
    x = b.input([1, 8, 8, 6], fp=5)
    a = b.conv(x, 10, fp_o=5, name="a")
    b.conv(b.concat([a, b.conv(x, 7, k=1, fp_o=5)]), 5)
    b.pool(a, "MAX", 2, 2, name="on_cpu")
    return b


def residual_chain():
    b = Builder()
    x = b.input([1, 16, 16, 32])
    d = b.dwconv(x, 3, 2, act="RELU6", fp_o=4)
    p = b.pool(d, "AVG", 2, 2, fp_o=4)
    b.eltwise([p, p], "ADD", fp_o=4)
    return b


def dense_head():
    b = Builder()
    x = b.input([1, 8, 8, 6], fp=5)
    r = b.reshape(b.conv(x, 10, fp_o=5), [1, 640])
    b.conv(b.reshape(r, [1, 1, 1, 640]), 10, k=1, pad=[0, 0, 0, 0])
    return b


def channel_slices():
    """Channel slices (views of the same bytes): of the interface input, of a conv output that is
    also a concat slice, read by a conv, a pool and an eltwise, reshaped, concatenated (copied), and
    one a subgraph output (copied to a dense buffer)."""
    b = Builder()
    x = b.input([1, 8, 8, 13], fp=5)
    xs = b.slice(x, 3, 11)
    a = b.conv(xs, 9, fp_o=5)
    cc = b.concat([a, b.conv(x, 6, k=1, fp_o=5)])
    inner = b.slice(a, 2, 7)
    p = b.pool(inner, "MAX", 2, 2)
    e = b.eltwise([b.slice(cc, 0, 5), b.slice(cc, 10, 15)], "ADD", fp_o=5)
    b.concat([b.slice(x, 0, 4), b.slice(e, 1, 3)])
    b.reshape(b.slice(cc, 1, 4), [1, 64, 3])
    b.conv(p, 4, k=1, fp_o=5)
    b.slice(cc, 5, 12, name="slice_out")
    return b


def grouped_pieces():
    """What split_groups makes of a grouped conv: slices of one input, block-diagonal convs, concat."""
    b = Builder()
    x = b.input([1, 9, 7, 12], fp=5)
    b.concat([b.conv(b.slice(x, i * 4, i * 4 + 4), 5, act="RELU", fp_o=5) for i in range(3)])
    return b


GRAPHS = {f.__name__: f for f in (nested_concat, repeated_concat_input, concat_of_interface_input,
                                  reshape_of_slice, slice_read_by_pool, output_also_internal,
                                  concat_input_is_output, residual_chain, dense_head, channel_slices,
                                  grouped_pieces)}
CPU_OPS = ("on_cpu",)


@pytest.mark.parametrize("key", TARGETS)
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_graph_bit_exact_every_tensor(name, key, no_reuse):
    compile_and_check(GRAPHS[name](), key, check_internal=True, cpu_ops=CPU_OPS)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_graph_bit_exact_with_reuse(name):
    compile_and_check(GRAPHS[name](), "DPUCZDX8G/KV260", check_internal=False, cpu_ops=CPU_OPS)


def test_interface_outputs_are_dense_and_in_interface():
    from test_backend_support import target
    from vaic.backend import INTERFACE_REG, generate
    b = concat_input_is_output()
    prog = generate(b.dpu_subgraph(CPU_OPS), b.g, target("DPUCZDX8G/KV260"))
    names = [p.name for p in prog.outputs]
    assert "a" in names
    assert all(p.reg_id == INTERFACE_REG and p.pixel_stride == 0 for p in prog.outputs + prog.inputs)


def test_copies_only_where_needed():
    from test_backend_support import target
    from vaic.backend import generate
    b = nested_concat()
    prog = generate(b.dpu_subgraph(), b.g, target("DPUCZDX8G/KV260"))
    assert not any("copy" in line for line in prog.log)
    assert sum("concat in place (2 of 2" in line for line in prog.log) == 2
    b = repeated_concat_input()
    prog = generate(b.dpu_subgraph(), b.g, target("DPUCZDX8G/KV260"))
    assert sum("copy" in line for line in prog.log) == 1
    b = concat_of_interface_input()
    prog = generate(b.dpu_subgraph(), b.g, target("DPUCZDX8G/KV260"))
    assert any("copy x " in line for line in prog.log)


def test_batch_lanes_share_one_program():
    """DPUCADF8H runs 4 images per core with one stream: each lane gets its own result."""
    import numpy as np

    from test_backend_support import run_batch, target
    from vaic.backend import generate
    from xir.interp import run_graph
    b = residual_chain()
    tgt = target("DPUCADF8H/U250")
    prog = generate(b.dpu_subgraph(), b.g, tgt)
    rng = np.random.default_rng(5)
    feeds = [{"x": rng.integers(-128, 128, (1, 16, 16, 32)).astype(np.int8)} for _ in range(tgt.batch)]
    got = run_batch(prog, tgt, feeds)
    for f, g in zip(feeds, got):
        ref = run_graph(b.g, f)
        (name,) = ref
        assert np.array_equal(np.asarray(ref[name]).astype(np.int8), g[name])
    assert not np.array_equal(got[0][name], got[1][name])
