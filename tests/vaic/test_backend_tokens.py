"""Dependency tokens derived by the emitter, and the static verifier catching broken programs."""
import dataclasses

import pytest

from test_backend_support import Builder, target

from vaic.backend import generate, verify
from vaic.backend.banks import Banks
from vaic.backend.emitter import Emitter
from vaic.errors import CompilerBug
from xir.isa import Instruction, decode, encode, format_mask, run_tokens


def doc_example():
    """docs/isa.md §3, in the doc's stream order: input buffers A/B, output buffers X/Y."""
    t = target("DPUCZDX8G/KV260")
    em = Emitter(Banks(t), {1: 4096, 2: 4096})
    em.layer = "l"
    buf = {"A": (0, 0), "B": (0, 100), "X": (8, 0), "Y": (8, 100)}    # (bank, line) in VB0 / VB1
    em.init("CONVINIT", kernel_h=1, kernel_w=1, jump_read=1, jump_write=1, valid_pixel_parallel=1)

    def load(tile, b):
        em.emit("LOAD", bank_id=buf[b][0], bank_addr=buf[b][1], length=4, channel=16, jump_read=16,
                jump_write=1, reg_id=2, ddr_addr=64 * tile)

    def conv(src, dst):
        em.emit("CONV", bank_id_in=buf[src][0], bank_addr_in=buf[src][1], bank_id_out=buf[dst][0],
                bank_addr_out=buf[dst][1], length=4)

    def save(tile, b):
        em.emit("SAVE", bank_id=buf[b][0], bank_addr=buf[b][1], length=4, channel=16, jump_read=1,
                jump_write=16, reg_id=1, ddr_addr=64 * tile)

    load(0, "A"); load(1, "B"); conv("A", "X"); save(0, "X"); load(2, "A"); conv("B", "Y"); save(1, "Y")
    load(3, "B"); conv("A", "X"); save(2, "X"); conv("B", "Y"); save(3, "Y")
    return [i for i in em.finish() if i.kind != "CONVINIT"]


DOC_LISTING = [   # kind, dpdon, dpdby of the doc's eight lines (LOAD tile3 -> B is its "...")
    ("LOAD", "-", "CONV"), ("LOAD", "-", "CONV"), ("CONV", "LOAD", "LOAD|SAVE"), ("SAVE", "CONV", "CONV"),
    ("LOAD", "CONV", "CONV"), ("CONV", "LOAD", "LOAD|SAVE"), ("SAVE", "CONV", "CONV"),
    ("CONV", "LOAD|SAVE", "SAVE"),
]


def test_emitter_reproduces_the_documented_overlap():
    instrs = doc_example()
    rows = [(i.kind, format_mask(i.dpdon), format_mask(i.dpdby)) for i in instrs]
    assert rows[:7] + [rows[8]] == DOC_LISTING
    assert rows[7] == ("LOAD", "CONV", "CONV")                 # tile 3 -> B waits for CONV B -> Y
    assert rows[9:] == [("SAVE", "CONV", "-"), ("CONV", "LOAD|SAVE", "SAVE"), ("SAVE", "CONV", "-"),
                        ("END", "-", "-")]
    assert not run_tokens(instrs, strict=True).leftover


@pytest.fixture(scope="module")
def program():
    b = Builder()
    x = b.input([1, 40, 30, 20])
    c = b.conv(x, 24, k=3, act="RELU", name="c1")
    b.conv(c, 8, k=3, s=2, name="c2")
    tgt = target("DPUCZDX8G/B512")
    return generate(b.dpu_subgraph(), b.g, tgt), tgt


def with_instrs(prog, instrs):
    return dataclasses.replace(prog, instructions=instrs)


def copy_instrs(prog):
    return [Instruction(i.kind, dict(i.fields), i.dpdon, i.dpdby, i.comment, i.layer) for i in prog.instructions]


def test_generated_program_verifies_standalone_and_decoded(program):
    prog, tgt = program
    verify(prog, tgt)
    verify(with_instrs(prog, decode(encode(prog.instructions, tgt.isa), tgt.isa)), tgt)


def test_verify_rejects_a_missing_token(program):
    prog, tgt = program
    instrs = copy_instrs(prog)
    j = next(i for i, x in enumerate(instrs) if x.kind == "SAVE" and x.dpdon)
    # drop the wait and the signal it consumed (the stream stays balanced)
    src = max(i for i in range(j) if instrs[i].kind == "CONV" and instrs[i].dpdby & 2)
    instrs[j].dpdon = 0
    instrs[src].dpdby &= ~2
    run_tokens(instrs, strict=True)
    with pytest.raises(CompilerBug, match=f"instruction {j} SAVE.*not ordered before it by tokens"):
        verify(with_instrs(prog, instrs), tgt)


def test_verify_rejects_unbalanced_tokens(program):
    prog, tgt = program
    instrs = copy_instrs(prog)
    instrs[0].dpdby |= 8       # a token for MISC nobody consumes
    with pytest.raises(CompilerBug, match="never consumed"):
        verify(with_instrs(prog, instrs), tgt)


def test_verify_rejects_read_before_write(program):
    prog, tgt = program
    instrs = copy_instrs(prog)
    j = next(i for i, x in enumerate(instrs) if x.kind == "LOAD" and x["reg_id"] == 2)
    del instrs[j]
    with pytest.raises(CompilerBug, match="never written|before they are written"):
        verify(with_instrs(prog, instrs), tgt)


def test_verify_rejects_bank_sharing_between_layers(program):
    prog, tgt = program
    instrs = copy_instrs(prog)
    j = next(i for i, x in enumerate(instrs) if x.kind == "LOAD" and x.layer == "c2")
    instrs[j].layer = "c1"
    with pytest.raises(CompilerBug, match="written for another layer"):
        verify(with_instrs(prog, instrs), tgt)


def test_verify_rejects_out_of_range(program):
    prog, tgt = program
    instrs = copy_instrs(prog)
    j = next(i for i, x in enumerate(instrs) if x.kind == "CONV")
    instrs[j].fields["length"] = 2000
    with pytest.raises(CompilerBug, match=f"instruction {j} CONV.*length"):
        verify(with_instrs(prog, instrs), tgt)
    instrs = copy_instrs(prog)
    instrs[j].fields["bank_addr_out"] = 2040
    with pytest.raises(CompilerBug, match=f"instruction {j} CONV.*exceed their depth 2048"):
        verify(with_instrs(prog, instrs), tgt)
    instrs = copy_instrs(prog)
    k = next(i for i, x in enumerate(instrs) if x.kind == "SAVE")
    instrs[k].fields["ddr_addr"] = prog.reg_sizes[instrs[k]["reg_id"]]
    with pytest.raises(CompilerBug, match=f"instruction {k} SAVE.*outside"):
        verify(with_instrs(prog, instrs), tgt)


def test_generated_tiles_overlap():
    """In a conv with several row tiles: LOAD of tile n+1 does not wait for any CONV of tile n, and a
    CONV never waits for the SAVEs of rows it does not overwrite (vector clocks of the real tokens)."""
    from xir.isa.verify import _clocks
    b = Builder()
    b.conv(b.input([1, 120, 30, 64]), 32, k=3, name="c")
    tgt = target("DPUCZDX8G/B512")
    prog = generate(b.dpu_subgraph(), b.g, tgt)
    rows, _ = prog.log[0].split(": ")[2].split(" tiles")[0].split("x")
    assert int(rows) >= 3
    instrs = prog.instructions
    engines, pos, start = _clocks(instrs)
    # tile boundaries: an input-row LOAD (INTERFACE) that follows a CONV in the stream starts a tile
    tile_loads, seen_conv = [], False
    for i, ins in enumerate(instrs):
        if ins.kind == "CONV":
            seen_conv = True
        elif ins.kind == "LOAD" and ins["reg_id"] == 2 and seen_conv:
            tile_loads.append(i)
            seen_conv = False
    assert len(tile_loads) >= 2
    first = tile_loads[0]                                   # first LOAD of tile 1
    convs_before = [i for i in range(first) if instrs[i].kind == "CONV"]
    assert start[first][2] < len(convs_before)              # it may run while tile 0 computes
    # and a CONV of tile 1 does not wait for the last SAVE of tile 0
    conv1 = next(i for i in range(first, len(instrs)) if instrs[i].kind == "CONV")
    saves_before = [i for i in range(conv1) if instrs[i].kind == "SAVE"]
    assert start[conv1][1] < len(saves_before)


def test_verify_with_the_emitter_trace_equals_standalone(program):
    """generate verifies with the emitter's shadow; a fresh shadow over the stream agrees."""
    prog, tgt = program
    assert verify(prog, tgt) == prog.mc_code == encode(prog.instructions, tgt.isa)


def test_verify_reports_what_the_emitter_shadow_found():
    """An emitted stream whose CONV reads lines nothing wrote: the emitter's shadow keeps the
    violation and the verifier reports it (the emitter itself is never interrupted)."""
    from vaic.backend.program import DpuProgram
    t = target("DPUCZDX8G/KV260")
    em = Emitter(Banks(t), {1: 4096, 2: 4096})
    em.layer = "l"
    em.init("CONVINIT", kernel_h=1, kernel_w=1, jump_read=1, jump_write=1, valid_pixel_parallel=1)
    em.emit("CONV", bank_id_in=0, bank_addr_in=0, bank_id_out=8, bank_addr_out=0, length=4)
    prog = DpuProgram(instructions=em.finish(), reg_sizes={0: 0, 1: 4096, 2: 4096}, const_data=b"",
                      inputs=[], outputs=[])
    for trace in (em.shadow, None):
        with pytest.raises(CompilerBug, match="instruction 1 CONV.*reads lines 0..3 of banks 0..0: never written"):
            verify(prog, t, trace=trace)


def test_verify_rejects_const_reads_past_the_parameters(program):
    prog, tgt = program
    instrs = copy_instrs(prog)
    j = next(i for i, x in enumerate(instrs) if x.kind == "LOAD" and x["reg_id"] == 0)
    instrs[j].fields["ddr_addr"] = prog.reg_sizes[0]
    with pytest.raises(CompilerBug, match=f"instruction {j} LOAD.*CONST access {prog.reg_sizes[0]}"):
        verify(with_instrs(prog, instrs), tgt)


def test_verify_rejects_a_token_signalled_later_in_the_stream():
    """The protocol lets a wait take a token signalled by a later instruction of another engine;
    the emitter never does that and the verifier, which reads the stream in order, refuses it."""
    from vaic.backend.program import DpuProgram
    from xir.isa import make
    t = target("DPUCZDX8G/KV260")
    instrs = [make("LOAD", dpdon=["CONV"]), make("CONVINIT"), make("CONV", dpdby=["LOAD"]), make("END")]
    assert not run_tokens(instrs, strict=True).leftover          # a valid stream for the protocol
    prog = DpuProgram(instructions=instrs, reg_sizes={0: 0, 1: 64, 2: 64}, const_data=b"", inputs=[], outputs=[])
    with pytest.raises(CompilerBug, match="consumed before the instruction that signals it"):
        verify(prog, t)
