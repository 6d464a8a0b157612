"""Engines, dependency nibbles and the token protocol (including the double-buffer overlap pattern)."""

import struct

import pytest

from xir.isa import (ENGINE_OF_KIND, KINDS, DependencyError, Engine, encode_one, engines_mask, format_mask,
                     make, mask_engines, parse_mask, run_tokens)
from xir.isa.errors import IsaError


def test_engine_values_and_kinds():
    assert [(e.name, e.value) for e in Engine] == [("LOAD", 0), ("SAVE", 1), ("CONV", 2), ("MISC", 3)]
    assert set(ENGINE_OF_KIND) == set(KINDS)
    assert ENGINE_OF_KIND["CONVINIT"] is Engine.CONV and ENGINE_OF_KIND["ELEW"] is Engine.MISC
    assert ENGINE_OF_KIND["END"] is None
    assert {k for k, e in ENGINE_OF_KIND.items() if e is Engine.MISC} == {
        "POOLINIT", "POOL", "ALUINIT", "ALU", "DWINIT", "DPTWISE", "ELEWINIT", "ELEW"}


def test_nibble_helpers():
    assert engines_mask(["LOAD", Engine.MISC]) == 0b1001
    assert mask_engines(0b0110) == (Engine.SAVE, Engine.CONV)
    assert format_mask(0) == "-" and format_mask(0b1010) == "SAVE|MISC"
    assert parse_mask("SAVE|MISC") == 0b1010 and parse_mask("-") == 0 and parse_mask("5") == 5
    with pytest.raises(IsaError):
        mask_engines(16)


def test_nibbles_in_word0():
    w0 = struct.unpack("<5I", encode_one(make("CONV", dpdon=["LOAD"], dpdby=["SAVE", "MISC"])))[0]
    assert w0 >> 28 == 0x8 and (w0 >> 24) & 0xF == 0b0001 and (w0 >> 20) & 0xF == 0b1010
    w0 = struct.unpack("<5I", encode_one(make("LOAD", dpdon=["CONV"], dpdby=["CONV"])))[0]
    assert w0 == 4 << 24 | 4 << 20


def double_buffered(tiles):
    """LOAD tile k into input buffer k % 2, CONV it into output buffer k % 2, SAVE it."""
    out = [make("CONVINIT")]
    for k in range(tiles):
        out.append(make("LOAD", dpdon=["CONV"] if k >= 2 else 0, dpdby=["CONV"]))
        conv_by = (["LOAD"] if k + 2 < tiles else []) + ["SAVE"]
        out.append(make("CONV", dpdon=["LOAD"] + (["SAVE"] if k >= 2 else []), dpdby=conv_by))
        out.append(make("SAVE", dpdon=["CONV"], dpdby=["CONV"] if k + 2 < tiles else 0))
    return out + [make("END")]


def test_double_buffering_lets_load_run_ahead():
    instrs = double_buffered(4)
    run = run_tokens(instrs, strict=True)
    assert run.leftover == {}
    assert sorted(run.order) == list(range(len(instrs))) and run.order[-1] == len(instrs) - 1
    pos = {i: n for n, i in enumerate(run.order)}
    loads = [i for i, x in enumerate(instrs) if x.kind == "LOAD"]
    convs = [i for i, x in enumerate(instrs) if x.kind == "CONV"]
    # LOAD of tile 1 does not wait for CONV of tile 0, but LOAD of tile 2 waits for it
    assert instrs[loads[1]].dpdon == 0 and pos[loads[2]] > pos[convs[0]]
    for load, conv in zip(loads, convs):
        assert pos[load] < pos[conv]


def test_deadlock_is_reported_with_the_blocked_instruction():
    instrs = [make("LOAD", dpdon=["CONV"]), make("CONV", dpdon=["LOAD"]), make("END")]
    with pytest.raises(DependencyError) as err:
        run_tokens(instrs)
    assert err.value.index == 0 and "CONV->LOAD" in str(err.value)


def test_end_rules_and_leftover_tokens():
    with pytest.raises(DependencyError, match="no END"):
        run_tokens([make("LOAD")])
    assert run_tokens([make("LOAD")], require_end=False).order == (0,)
    with pytest.raises(DependencyError, match="follows END"):
        run_tokens([make("END"), make("LOAD")])
    run = run_tokens([make("LOAD", dpdby=["CONV"]), make("END")])
    assert run.leftover == {(Engine.LOAD, Engine.CONV): 1}
    with pytest.raises(DependencyError, match="never consumed"):
        run_tokens([make("LOAD", dpdby=["CONV"]), make("END")], strict=True)


def test_order_follows_tokens_not_stream_position():
    # the CONV is written first but must wait for the LOAD written after it
    instrs = [make("CONV", dpdon=["LOAD"]), make("LOAD", dpdby=["CONV"]), make("END")]
    assert run_tokens(instrs).order == (1, 0, 2)
