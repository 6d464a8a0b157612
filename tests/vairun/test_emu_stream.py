"""Whole streams: the token protocol (not the stream order) orders engines, the double-buffered
LOAD/CONV/SAVE pipeline of docs/isa.md §3 computes the right tiles, the hook sees the execution
order, a batch of 2 equals two runs of 1, and re-running a stream (cached plans) gives the same bytes."""

import numpy as np

from emu_support import IN_REG, OUT_REG, PARAM_REG, fill_garbage, flat, load_bytes, rand_q
from test_emu_conv import conv_stream, params
from vairun.emu import Machine
from xir.isa import ActType, Engine, make
from xir.kernels import conv2d_fix
from xir.target import load_target

KV260 = load_target("DPUCZDX8G/KV260")
LOAD, SAVE, CONV = (1 << Engine.LOAD), (1 << Engine.SAVE), (1 << Engine.CONV)


def pipeline_stream(t, tiles: int, w: int):
    """1x1 conv, 8 rows per tile, input buffers A/B and output buffers X/Y alternating (docs §3)."""
    init = make("CONVINIT", valid_pixel_parallel=8, shift_cut=6, shift_bias=2, act_type=int(ActType.RELU),
                jump_read=1, jump_read_endl=w, jump_write=1, jump_write_endl=w)
    in_base, out_base = (0, 500), (1000, 1500)
    params_loads = [load_bytes(t.weights_group.first_id + j, 0, offset=16 * j, nbytes=16) for j in range(16)]
    params_loads.append(load_bytes(t.bias_group.first_id, 0, offset=256, nbytes=16))

    def load(k):
        return [make("LOAD", bank_id=r, bank_addr=in_base[k % 2], length=w, channel=16, jump_read=16,
                     jump_write=1, reg_id=IN_REG, ddr_addr=(8 * k + r) * w * 16) for r in range(8)]

    def conv(k):
        return make("CONV", bank_id_in=0, bank_addr_in=in_base[k % 2], length=w, bank_id_out=8,
                    bank_addr_out=out_base[k % 2])

    def save(k):
        return [make("SAVE", bank_id=8 + r, bank_addr=out_base[k % 2], length=w, channel=16, jump_read=1,
                     jump_write=16, reg_id=OUT_REG, ddr_addr=(8 * k + r) * w * 16) for r in range(8)]

    stream = params_loads + [init]
    init.dpdon = LOAD
    params_loads[-1].dpdby = CONV
    pending = {}
    for k in range(min(2, tiles)):
        ld = load(k)
        ld[-1].dpdby = CONV
        pending[k] = ld
    stream += pending[0] + pending.get(1, [])
    for k in range(tiles):
        c = conv(k)
        c.dpdon = LOAD | (SAVE if k >= 2 else 0)
        c.dpdby = (LOAD if k + 2 < tiles else 0) | SAVE
        sv = save(k)
        sv[0].dpdon = CONV
        if k + 2 < tiles:
            sv[-1].dpdby = CONV
        stream += sv + [c]  # SAVEs listed first: they wait for the CONV's token
        if k + 2 < tiles:
            ld = load(k + 2)
            ld[0].dpdon = CONV
            ld[-1].dpdby = CONV
            stream += ld
    return stream + [make("END")]


def test_double_buffered_pipeline_matches_reference():
    w, tiles = 5, 4
    rng = np.random.default_rng(0)
    x = rand_q(rng, (1, 8 * tiles, w, 16))
    wq = rand_q(rng, (16, 1, 1, 16))
    bq = rand_q(rng, (16,))
    stream = pipeline_stream(KV260, tiles, w)
    m = Machine(KV260)
    fill_garbage(m, rng)
    m.set_reg(IN_REG, flat(x))
    m.set_reg(PARAM_REG, np.concatenate([wq.reshape(-1), bq]).astype(np.int8), shared=True)
    m.set_reg(OUT_REG, np.zeros(x.size, np.int8))
    seen = []
    order = m.run(stream, on_instruction=lambda i, instr: seen.append((i, instr.kind)))
    assert [i for i, _ in seen] == list(order) and seen[-1][1] == "END"
    assert list(order) != sorted(order)  # engines interleave: not the stream order
    got = np.asarray(m.get_reg(OUT_REG)).reshape(x.shape)
    ref = conv2d_fix(x, wq, bq, fp_in=4, fp_w=4, fp_b=6, fp_out=2, nonlinear="RELU")
    np.testing.assert_array_equal(got, ref)


def test_tokens_not_stream_position_order_engines():
    # the SAVE comes first in the stream but waits for the CONV's token; executing in stream order
    # would save the garbage the bank held before the CONV
    t = KV260
    rng = np.random.default_rng(1)
    x = rand_q(rng, (1, 1, 4, 16))
    wq = rand_q(rng, (16, 1, 1, 16))
    bq = rand_q(rng, (16,))
    loads = [make("LOAD", bank_id=0, length=4, channel=16, jump_read=16, jump_write=1, reg_id=IN_REG)]
    loads += [load_bytes(t.weights_group.first_id + j, 0, offset=16 * j, nbytes=16) for j in range(16)]
    loads.append(load_bytes(t.bias_group.first_id, 0, offset=256, nbytes=16, ))
    loads[-1].dpdby = CONV
    save = make("SAVE", bank_id=8, length=4, channel=16, jump_read=1, jump_write=16, reg_id=OUT_REG, dpdon=CONV)
    init = make("CONVINIT", valid_pixel_parallel=1, shift_cut=5, jump_read=1, jump_write=1, dpdon=LOAD)
    conv = make("CONV", bank_id_in=0, length=4, bank_id_out=8, dpdby=SAVE)
    stream = [save] + loads + [init, conv, make("END")]
    m = Machine(t)
    fill_garbage(m, rng)
    m.set_reg(IN_REG, flat(x))
    m.set_reg(PARAM_REG, np.concatenate([wq.reshape(-1), bq]).astype(np.int8), shared=True)
    m.set_reg(OUT_REG, np.zeros(64, np.int8))
    order = m.run(stream)
    assert order.index(0) == len(stream) - 2  # the SAVE runs last, just before END
    ref = conv2d_fix(x, wq, bq, fp_in=3, fp_w=2, fp_b=5, fp_out=0)
    np.testing.assert_array_equal(np.asarray(m.get_reg(OUT_REG)).reshape(ref.shape), ref)


def _conv_run(t, x, wq, bq, stream, groups, machine=None):
    m = machine or Machine(t, batch=x.shape[0])
    fill_garbage(m, np.random.default_rng(4))
    m.set_reg(IN_REG, flat(x))
    m.set_reg(PARAM_REG, params(np.random.default_rng(5), wq, bq, groups, t.icp), shared=True)
    m.set_reg(OUT_REG, np.zeros(4 * 5 * t.ocp, np.int8))
    m.run(stream)
    return np.array(m.get_reg(OUT_REG)).reshape(x.shape[0], -1)


def test_batch_of_two_equals_two_runs_of_one_and_reruns_repeat():
    t = KV260
    rng = np.random.default_rng(2)
    x = rand_q(rng, (2, 7, 9, 20))
    wq = rand_q(rng, (16, 3, 3, 20))
    bq = rand_q(rng, (16,))
    stream, groups = conv_stream(t, h=7, w=9, cin=20, kernel=(3, 3), stride=(2, 2), pad=(1, 1, 1, 1), rows=4,
                                 length=5, shift_cut=6, shift_bias=3, act=ActType.LEAKYRELU)
    both = _conv_run(t, x, wq, bq, stream, groups)
    one = np.concatenate([_conv_run(t, x[i:i + 1], wq, bq, stream, groups) for i in range(2)])
    np.testing.assert_array_equal(both, one)
    assert not np.array_equal(both[0], both[1])
    m = Machine(t, batch=2)
    first = _conv_run(t, x, wq, bq, stream, groups, m)
    planned = len(m.plans)
    again = _conv_run(t, x, wq, bq, stream, groups, m)
    np.testing.assert_array_equal(first, again)
    assert len(m.plans) == planned > 0


def test_reused_input_block_and_weights_see_rewrites():
    # two identical CONVs (same input block, same weights lines) with a LOAD of new input rows and a
    # LOAD of new weights between them: the second CONV must not reuse the first one's data
    t = KV260
    rng = np.random.default_rng(6)
    x = rand_q(rng, (2, 1, 4, 16))
    wq = rand_q(rng, (2, 16, 1, 1, 16))
    bq = rand_q(rng, (16,))
    m = Machine(t)
    m.set_reg(IN_REG, flat(x.reshape(1, 2, 4, 16)))
    m.set_reg(PARAM_REG, np.concatenate([wq[0].reshape(-1), bq, wq[1].reshape(-1)]).astype(np.int8), shared=True)
    m.set_reg(OUT_REG, np.zeros(128, np.int8))

    def load_input(k):
        return make("LOAD", bank_id=0, length=4, channel=16, jump_read=16, jump_write=1, reg_id=IN_REG,
                    ddr_addr=64 * k)

    def load_weights(offset):
        return [load_bytes(t.weights_group.first_id + j, 0, offset=offset + 16 * j, nbytes=16) for j in range(16)]

    conv = dict(bank_id_in=0, length=4, bank_id_out=8)
    stream = [load_input(0)] + load_weights(0) + [load_bytes(t.bias_group.first_id, 0, offset=256, nbytes=16)]
    stream[-1].dpdby = CONV
    stream += [make("CONVINIT", valid_pixel_parallel=1, shift_cut=5, jump_read=1, jump_write=1, dpdon=LOAD),
               make("CONV", dpdby=LOAD | SAVE, **conv),
               make("SAVE", bank_id=8, length=4, channel=16, jump_read=1, jump_write=16, reg_id=OUT_REG,
                    dpdon=CONV, dpdby=CONV)]
    reload = [load_input(1)] + load_weights(272)
    reload[0].dpdon = CONV
    reload[-1].dpdby = CONV
    stream += reload + [make("CONV", dpdon=LOAD | SAVE, dpdby=SAVE, **conv),
                        make("SAVE", bank_id=8, length=4, channel=16, jump_read=1, jump_write=16, reg_id=OUT_REG,
                             ddr_addr=64, dpdon=CONV), make("END")]
    m.run(stream)
    got = np.asarray(m.get_reg(OUT_REG)).reshape(2, 1, 1, 4, 16)
    for k in range(2):
        ref = conv2d_fix(x[k:k + 1], wq[k], bq, fp_in=3, fp_w=2, fp_b=5, fp_out=0)
        np.testing.assert_array_equal(got[k], ref)
