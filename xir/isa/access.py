"""What each instruction reads and writes, derived from its fields alone (docs/isa.md §4-5).

Both the emitter (which derives dependency tokens from it) and the verifier (which checks a finished
stream) use this one definition, through ``shadow.Shadow.record``. An access is a tuple
``(space, write, lo_id, hi_id, start, count, stride, width)``:
``space`` is "B" (bank lines of bank ids ``lo_id .. hi_id-1``) or "D" (bytes of DDR register
``lo_id``), covering ``count`` runs of ``width`` units starting ``stride`` apart from ``start``.
Row placement follows ``xir.isa`` (same rule as ``row_slots``): reads of CONV/DPTWISE/POOL/ALU use
``g = stride_h``, phase ``stride_offset_in`` and the four sweep bases; writes and ELEW inputs use
group 1 (writes: ``stride_out``/``stride_offset_out``) with uniform sweeps.
"""
from __future__ import annotations

from functools import lru_cache

from .addressing import INIT_OF, block_extent, row_slots, uniform_sweep_bases
from .bankmap import BankMap
from .engines import ENGINE_OF_KIND
from .errors import AddressingError
from .instruction import Instruction

#: engine number of every instruction kind that runs on an engine (token protocol)
ENGINE_ID = {k: int(e) for k, e in ENGINE_OF_KIND.items() if e is not None}
INIT_KINDS = ("CONVINIT", "DWINIT", "POOLINIT", "ALUINIT", "ELEWINIT")


class AccessError(ValueError):
    """An instruction whose fields cannot be interpreted (missing INIT, too many sweeps...)."""


class InitState:
    """The INIT instructions in force on each engine (ELEWINIT per input id). ``token[kind]`` names,
    for each compute kind, the content of the INIT state it reads (equal tokens: equal state), so
    that the accesses of an instruction may be looked up by its fields and this token."""

    def __init__(self):
        self.init: dict[str, Instruction] = {}
        self.elew: dict[int, Instruction] = {}
        self.token: dict[str, object] = {}
        self._ids: dict[tuple, int] = {}
        self._elew_ids: dict[int, int] = {}

    def _id(self, ins: Instruction) -> int:
        key = (ins.kind, tuple(ins.fields.values()))
        i = self._ids.get(key)
        if i is None:
            i = self._ids[key] = len(self._ids)
        return i

    def update(self, ins: Instruction) -> None:
        if ins.kind == "ELEWINIT":
            self.elew[ins["input_id"]] = ins
            self._elew_ids[ins["input_id"]] = self._id(ins)
            self.token["ELEW"] = tuple(sorted(self._elew_ids.items()))
        elif ins.kind in INIT_KINDS:
            self.init[ins.kind] = ins
            tok = self._id(ins)
            for k, i in INIT_OF.items():
                if i == ins.kind:
                    self.token[k] = tok


def _rows_read(first_bank: int, pp: int, g: int, phase: int, endl: int, bases: list[int], n: int):
    """(bank, line) of stored rows 0..n-1 under the read rule (``addressing.row_slots``)."""
    try:
        banks, lines = row_slots(range(n), first_bank=first_bank, pp=pp, group=g, phase=phase, jump_endl=endl,
                                 sweep_bases=bases)
    except AddressingError as e:
        raise AccessError(str(e)) from None
    return list(zip(banks.tolist(), lines.tolist()))


def _rows_uniform(first_bank: int, pp: int, g: int, phase: int, endl: int, base: int, n: int):
    """(bank, line) of rows 0..n-1 with uniform sweeps (writes and ELEW reads)."""
    sweeps = 1 + (first_bank % pp + (phase + max(n - 1, 0)) // g) // pp
    banks, lines = row_slots(range(n), first_bank=first_bank, pp=pp, group=g, phase=phase, jump_endl=endl,
                             sweep_bases=uniform_sweep_bases(base, g, endl, sweeps))
    return list(zip(banks.tolist(), lines.tolist()))


def _row_runs(rows, write: bool, ncols: int, jump: int, lines: int, out: list) -> None:
    """Append bank accesses for ``ncols`` pixels of ``lines`` lines, ``jump`` apart, on each row;
    rows of one bank that touch are merged, identical runs of consecutive banks are grouped."""
    if ncols <= 0 or not rows:
        return
    if jump > lines and ncols > 1:
        count, stride, width = ncols, jump, lines
    else:
        count, width = 1, (ncols - 1) * jump + lines
        stride = width
    if len(rows) == 1:
        bank, line = rows[0]
        out.append(("B", write, bank, bank + 1, line, count, stride, width))
        return
    per_bank: dict[int, list[int]] = {}
    for bank, line in rows:
        per_bank.setdefault(bank, []).append(line)
    runs = []
    for bank, starts in per_bank.items():
        if count == 1:
            starts.sort()
            lo = hi = starts[0]
            for st in starts:
                if st == hi:
                    hi += width
                else:
                    if st < hi:
                        hi = max(hi, st + width)
                        continue
                    runs.append((lo, hi - lo, bank))
                    lo, hi = st, st + width
            runs.append((lo, hi - lo, bank))
        else:
            for st in starts:
                runs.append((st, 0, bank))
    runs.sort()
    i, n = 0, len(runs)
    while i < n:
        st, w, bank = runs[i]
        j = i + 1
        while j < n and runs[j][0] == st and runs[j][1] == w and runs[j][2] == runs[j - 1][2] + 1:
            j += 1
        if count == 1:
            out.append(("B", write, bank, runs[j - 1][2] + 1, st, 1, w, w))
        else:
            out.append(("B", write, bank, runs[j - 1][2] + 1, st, count, stride, width))
        i = j


@lru_cache(maxsize=1 << 14)
def _read_runs(first_bank: int, pp: int, g: int, phase: int, endl: int, bases: tuple, n: int,
               ncols: int, jump: int, lines: int) -> tuple:
    """Accesses of a read under the read rule (cached: a layer repeats the same reads)."""
    out: list = []
    _row_runs(_rows_read(first_bank, pp, g, phase, endl, bases, n), False, ncols, jump, lines, out)
    return tuple(out)


@lru_cache(maxsize=1 << 14)
def _uniform_runs(write: bool, first_bank: int, pp: int, g: int, phase: int, endl: int, base: int, n: int,
                  ncols: int, jump: int, lines: int) -> tuple:
    """Accesses of a write (or an ELEW read) under the uniform rule (cached)."""
    out: list = []
    _row_runs(_rows_uniform(first_bank, pp, g, phase, endl, base, n), write, ncols, jump, lines, out)
    return tuple(out)


def accesses(ins: Instruction, state: InitState, banks: BankMap) -> list[tuple]:
    """Every access of ``ins`` given the INIT state in force (call ``state.update`` for INITs)."""
    k = ins.kind
    f = ins.fields
    pp = banks.pp
    if k == "LOAD":
        bank = f["bank_id"]
        width = banks.info.get(bank, (banks.icp, 0))[0]
        npl = -(-(f["channel"] + f["pad_idx"]) // width)
        n = f["length"]
        jw = f["jump_write"]
        if jw > npl and n > 1:
            out = [("B", True, bank, bank + f["broadcast"] + 1, f["bank_addr"], n, jw, npl)]
        else:
            w = (n - 1) * jw + npl
            out = [("B", True, bank, bank + f["broadcast"] + 1, f["bank_addr"], 1, w, w)]
        q = n - f["pad_start"] - f["pad_end"]
        if q > 0:
            reg = f["reg_id"]
            out.append(("D", False, reg, reg + 1, f["ddr_addr"], q, f["jump_read"], f["channel"]))
        return out
    if k == "SAVE":
        out = []
        if not f["const_en"]:
            width = banks.info.get(f["bank_id"], (banks.icp, 0))[0]
            npl = -(-f["channel"] // width)
            _row_runs([(f["bank_id"], f["bank_addr"])], False, f["length"], f["jump_read"], npl, out)
        reg = f["reg_id"]
        out.append(("D", True, reg, reg + 1, f["ddr_addr"], f["length"], f["jump_write"], f["channel"]))
        return out
    if k in INIT_OF and k != "ELEW":
        init = state.init.get(INIT_OF[k])
        if init is None:
            raise AccessError(f"{k} before any {INIT_OF[k]}")
        i = init.fields
        R = i["valid_pixel_parallel"] if k == "CONV" or k == "POOL" else f["valid_pixel_parallel"]
        kh, kw, sh, sw = i["kernel_h"], i["kernel_w"], i["stride_h"], i["stride_w"]
        cg = f["channel_group"]
        nrows = block_extent(R, sh, kh) - f["pad_top"] - f["pad_bottom"]
        ncols = block_extent(f["length"], sw, kw) - f["pad_left"] - f["pad_right"]
        if k == "POOL":
            endl_in, endl_out = f["jump_read_endl"], f["jump_write_endl"]
        else:
            endl_in, endl_out = i["jump_read_endl"], i["jump_write_endl"]
        bases = (f["bank_addr_in"], f["bank_addr_in_1"], f["bank_addr_in_2"], f["bank_addr_in_3"])
        out = list(_read_runs(f["bank_id_in"], pp, sh, i["stride_offset_in"], endl_in, bases, max(nrows, 0),
                              ncols, i["jump_read"], cg))
        icp = banks.icp
        if k == "CONV":
            out.append(("B", False, banks.weights_first, banks.weights_first + banks.ocp,
                        f["bank_addr_weights"], 1, kh * kw * cg, kh * kw * cg))
            bl = -(-banks.ocp // banks.bias_width)
            out.append(("B", False, banks.bias_bank, banks.bias_bank + 1, f["bank_addr_bias"], 1, bl, bl))
            olines = banks.olines
        else:
            olines = cg
            dwconv = k == "DPTWISE" or (k == "ALU" and i["alu_type"] == 2)
            if dwconv:
                wl = -(-(kh * kw * cg * icp) // banks.dw_width)
                out.append(("B", False, banks.dw_bank, banks.dw_bank + 1, f["bank_addr_weights"], 1, wl, wl))
                nb = cg * icp * (2 if (k == "ALU" and i["act_type"] == 2) else 1)
                bl = -(-nb // banks.bias_width)
                out.append(("B", False, banks.bias_bank, banks.bias_bank + 1, f["bank_addr_bias"], 1, bl, bl))
            elif k == "ALU" and i["act_type"] == 2:
                bl = -(-(2 * cg * icp) // banks.bias_width)
                out.append(("B", False, banks.bias_bank, banks.bias_bank + 1, f["bank_addr_bias"], 1, bl, bl))
        out += _uniform_runs(True, f["bank_id_out"], pp, i["stride_out"], i["stride_offset_out"], endl_out,
                             f["bank_addr_out"], R, f["length"], i["jump_write"], olines)
        return out
    if k == "ELEW":
        R, cg, n = f["valid_pixel_parallel"], f["channel_group"], f["length"]
        out = []
        for inp in range(f["num_inputs"]):
            e = state.elew.get(inp)
            if e is None:
                raise AccessError(f"ELEW reads input {inp}, which no ELEWINIT configured")
            e = e.fields
            out += _uniform_runs(False, e["bank_id"], pp, 1, 0, e["jump_read_endl"], e["bank_addr"], R, n,
                                 e["jump_read"], cg)
        out += _uniform_runs(True, f["bank_id_out"], pp, 1, 0, f["jump_write_endl"], f["bank_addr_out"], R, n,
                             f["jump_write"], cg)
        return out
    return []
