"""The shadow memory (xir.isa.shadow) against a line-by-line / byte-by-byte reference.

The reference keeps, for every bank line and DDR byte, the last writer and reader of each engine and
the layer of the last writer, exactly as the rules read; the Shadow keeps the same facts in numpy
planes, DDR in cells of several bytes (split when an access needs it) and reuses the result of a
read when no write touched its banks since. Hazards and the first violation must agree."""
from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from xir.isa.shadow import DDR_GRANULE, Shadow

DEPTH = {0: 64, 1: 64, 2: 64, 3: 64, 4: 32, 5: 32, 7: 16}    # bank id -> depth (bank 6 missing)
DDR = {1: 4096, 2: 1024}
CONST_SIZE = 512


def banks_stub():
    return SimpleNamespace(info={b: (16, d) for b, d in DEPTH.items()}, t=SimpleNamespace(name="TEST"))


class Reference:
    """The rules, one line / byte at a time."""

    def __init__(self, inputs):
        self.bank = {}          # (bank, line) -> {"W": [4], "R": [4], "tag": layer or None}
        self.ddr = {}           # (reg, byte) -> {"W": int, "R": int, "valid": bool}
        for reg, start, count, stride, width in inputs:
            for byte in _run_bytes(start, count, stride, width):
                self._ddr_cell(reg, byte)["valid"] = True
        self.layers = {}
        self.preds = []
        self.const_reads = []
        self.violation = None

    def _bank_cell(self, b, line):
        return self.bank.setdefault((b, line), {"W": [-1] * 4, "R": [-1] * 4, "tag": None})

    def _ddr_cell(self, reg, byte):
        return self.ddr.setdefault((reg, byte), {"W": -1, "R": -1, "valid": False})

    def _fail(self, idx, k, msg):
        if self.violation is None:
            self.violation = (idx, k, msg)

    def record(self, idx, engine, layer, acc):
        lid = self.layers.setdefault(layer, len(self.layers))
        best = [-1] * 4
        for k, (sp, write, lo, hi, s, count, stride, width) in enumerate(acc):
            if width <= 0:
                continue
            last = s + (count - 1) * stride + width
            if sp == "B":
                missing = [b for b in range(lo, hi) if b not in DEPTH]
                if missing or hi <= lo:
                    self._fail(idx, k, f"bank id {missing[0] if missing else lo} does not exist on TEST")
                    continue
                d = min(DEPTH[b] for b in range(lo, hi))
                if last > d:
                    self._fail(idx, k, f"lines {s}..{last - 1} of banks {lo}..{hi - 1} exceed their depth {d}")
                    continue
                cells = [self._bank_cell(b, line) for b in range(lo, hi) for line in _run_bytes(s, count, stride, width)]
                for e in range(4):
                    if e != engine:
                        for c in cells:
                            best[e] = max(best[e], c["W"][e], c["R"][e] if write else -1)
                if write:
                    for c in cells:
                        c["W"][engine] = idx
                        c["tag"] = lid
                else:
                    bad = [c["tag"] for c in cells if c["tag"] != lid]
                    if bad:
                        what = ("never written" if bad[0] is None else
                                f"written for another layer ({[n for n, i in self.layers.items() if i == bad[0]][0]})")
                        self._fail(idx, k, f"reads lines {s}..{last - 1} of banks {lo}..{hi - 1}: {what}")
                    for c in cells:
                        c["R"][engine] = idx
            elif lo == 0:
                if write:
                    self._fail(idx, k, "writes CONST")
                else:
                    self.const_reads.append((idx, k, s, last))
            else:
                if lo not in DDR or last > DDR[lo]:
                    self._fail(idx, k, f"DDR register {lo} access {s}..{last - 1} outside its {DDR.get(lo, 0)} bytes")
                    continue
                cells = [self._ddr_cell(lo, byte) for byte in _run_bytes(s, count, stride, width)]
                if write:
                    for c in cells:
                        best[0] = max(best[0], c["R"])
                        c["W"], c["valid"] = idx, True
                else:
                    if not all(c["valid"] for c in cells):
                        self._fail(idx, k, f"reads DDR register {lo} bytes {s}..{last - 1} before they are written")
                    for c in cells:
                        best[1] = max(best[1], c["W"])
                        c["R"] = idx
        self.preds.append(tuple(sorted(p for p in best if p >= 0)))

    def first_violation(self, const_size):
        first = self.violation
        for idx, k, s, last in self.const_reads:
            if last > const_size:
                if first is None or (idx, k) < first[:2]:
                    first = (idx, k, f"CONST access {s}..{last - 1} outside its {const_size} bytes")
                break
        return None if first is None else (first[0], first[2])


def _run_bytes(start, count, stride, width):
    return [start + i * stride + j for i in range(count) for j in range(width)]


def _random_stream(rng: random.Random, n: int, bad: bool):
    """Accesses drawn from a small pool (so reads repeat), DDR ones often misaligned."""
    pool = []
    for _ in range(40):
        lo = rng.choice([0, 1, 2, 3, 4, 5, 7] + ([6] if bad else []))
        hi = min(lo + rng.choice([1, 1, 2, 4]), 8)
        while not bad and any(b not in DEPTH for b in range(lo, hi)):
            hi -= 1
        width = rng.randint(1, 6)
        count = rng.choice([1, 1, 2, 3])
        stride = width + rng.randint(0, 4) if count > 1 else width
        if all(b in DEPTH for b in range(lo, hi)):
            room = min(DEPTH[b] for b in range(lo, hi)) - (count - 1) * stride - width
            if room < 0 and not bad:
                count, stride = 1, width
                room = min(DEPTH[b] for b in range(lo, hi)) - width
        else:
            room = 8
        s = rng.randint(0, max(room, 0) + (6 if bad else 0))
        pool.append(("B", lo, hi, s, count, stride, width))
    for _ in range(25):
        reg = rng.choice([1, 1, 2, 0] + ([5] if bad else []))
        width = rng.choice([DDR_GRANULE, 2 * DDR_GRANULE, 16, 3, 48, 64])
        count = rng.choice([1, 2, 4])
        stride = rng.choice([width, width + 16, 2 * DDR_GRANULE, width + 5])
        size = DDR.get(reg, CONST_SIZE)
        room = size - (count - 1) * stride - width
        if room < 0 and not bad:
            count, stride, room = 1, width, size - width
        room = max(room, 0)
        s = rng.choice([c for c in (0, 64, 128, rng.randint(0, room), rng.randrange(0, max(room, 1), 16))
                        if c <= room or bad])
        if bad and rng.random() < 0.1:
            s = size
        pool.append(("D", reg, reg + 1, s, count, stride, width))
    out = []
    for _ in range(n):
        engine = rng.randrange(4)
        acc = []
        for _ in range(rng.randint(0, 4)):
            sp, lo, hi, s, count, stride, width = rng.choice(pool)
            if sp == "D":
                write = engine == 1           # SAVE writes DDR, LOAD reads it
                if engine not in (0, 1) or (write and lo == 0 and not bad):
                    continue
            else:
                write = rng.random() < 0.45
            acc.append((sp, write, lo, hi, s, count, stride, width))
        out.append((engine, rng.choice(["a", "b", "c"]), acc))
    return out


def _inputs():
    return [(2, 0, 4, 40, 24), (1, 3, 1, 1, 5)]


def _places():
    return [SimpleNamespace(reg_id=reg, ddr_addr=s, dims=(1, count, width),
                            pixel_stride=stride if stride != width else 0)
            for reg, s, count, stride, width in _inputs()]


@pytest.mark.parametrize("seed", range(30))
def test_shadow_matches_the_line_by_line_reference(seed):
    rng = random.Random(seed)
    bad = seed % 3 == 2
    ref = Reference(_inputs())
    sh = Shadow(banks_stub(), DDR, _places())
    for idx, (engine, layer, acc) in enumerate(_random_stream(rng, 250, bad)):
        if not acc and rng.random() < 0.3:
            ref.preds.append(())
            sh.skip()
            continue
        ref.record(idx, engine, layer, acc)
        assert sh.record(idx, engine, layer, acc) == ref.preds[-1], idx
    assert sh.preds == ref.preds
    assert sh.first_violation(CONST_SIZE) == ref.first_violation(CONST_SIZE)
    assert sh.first_violation(10) == ref.first_violation(10)


@pytest.mark.parametrize("seed", range(10))
def test_shadow_matches_the_reference_on_valid_streams(seed):
    """Everything written first by one layer: no violation, only hazards."""
    rng = random.Random(100 + seed)
    ref = Reference(_inputs())
    sh = Shadow(banks_stub(), DDR, _places())
    setup = [("B", True, b, b + 1, 0, 1, d, d) for b, d in DEPTH.items()]
    stream = [(0, "a", setup), (1, "a", [("D", True, r, r + 1, 0, 1, n, n) for r, n in DDR.items()])]
    stream += [(e, "a", acc) for e, _, acc in _random_stream(rng, 300, False)]
    for idx, (engine, layer, acc) in enumerate(stream):
        ref.record(idx, engine, layer, acc)
        assert sh.record(idx, engine, layer, acc) == ref.preds[-1], idx
    assert sh.first_violation(CONST_SIZE) == ref.first_violation(CONST_SIZE) is None
    assert sh.first_violation(100) == ref.first_violation(100) is not None     # CONST reads past 100


def test_ddr_cells_split_only_when_an_access_needs_it():
    sh = Shadow(banks_stub(), {1: 4096}, ())
    assert sh.granule[1] == DDR_GRANULE
    sh.record(0, 1, "l", [("D", True, 1, 2, 64, 2, 128, 64)])
    assert sh.granule[1] == DDR_GRANULE
    sh.record(1, 1, "l", [("D", True, 1, 2, 8, 1, 8, 8)])       # bytes 8..15: cells of 8 bytes
    assert sh.granule[1] == 8
    assert sh.record(2, 0, "l", [("D", False, 1, 2, 64, 1, 64, 64)]) == (0,)
    assert sh.record(3, 0, "l", [("D", False, 1, 2, 8, 1, 4, 4)]) == (1,)
    assert sh.granule[1] == 4
    assert sh.first_violation(0) is None
    sh.record(4, 0, "l", [("D", False, 1, 2, 16, 1, 8, 8)])     # never written
    assert sh.first_violation(0) == (4, "reads DDR register 1 bytes 16..23 before they are written")


def test_repeated_read_reuses_its_result_until_a_write_touches_the_bank():
    sh = Shadow(banks_stub(), {}, ())
    read = ("B", False, 0, 2, 4, 1, 8, 8)
    sh.record(0, 0, "l", [("B", True, 0, 2, 0, 1, 16, 16)])      # LOAD writes both banks
    assert sh.record(1, 2, "l", [read]) == (0,)                   # CONV reads: after the LOAD
    assert sh.record(2, 2, "l", [read]) == (0,)                   # reused
    sh.record(3, 3, "l", [("B", True, 1, 2, 40, 1, 4, 4)])       # other lines of bank 1
    assert sh.record(4, 2, "l", [read]) == (0,)                   # recomputed: still the LOAD
    sh.record(5, 3, "l", [("B", True, 1, 2, 10, 1, 1, 1)])       # a line it reads
    assert sh.record(6, 2, "l", [read]) == (0, 5)
    # the reads were recorded even when reused: a LOAD overwriting the lines waits for the last one
    assert sh.record(7, 0, "l", [("B", True, 0, 1, 4, 1, 1, 1)]) == (6,)
    assert sh.first_violation(0) is None


def test_record_refuses_out_of_order_instructions():
    sh = Shadow(banks_stub(), {}, ())
    with pytest.raises(ValueError, match="out of stream order"):
        sh.record(3, 0, "l", [])
