"""The target description: frozen dataclasses for one DPU configuration and the rules that bind them.

A :class:`Target` is everything the compiler, the emulator and the timing model need to know about a
DPU: its fingerprint, parallelism, clock, cores and batch lanes, DDR bandwidth, on-chip bank groups,
operator limits and fixed per-instruction overheads. Construction validates every field, so an
impossible target (a bank id the instruction layout cannot address, a PP that contradicts the
fingerprint, ...) never exists; the error names the offending key.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from xir.target.checks import check_bool, check_int, check_names, check_number, check_text, fail, set_field
from xir.target.errors import TargetError
from xir.target.fingerprint import (
    FAMILIES,
    ZDX8G_LAYOUT,
    ZDX8G_SIZES,
    decode_features,
    feature_layout,
    format_fingerprint,
    parse_fingerprint,
)

#: Activation names a fixed op may carry (the xmodel ``nonlinear`` attribute values).
NONLINEARS = ("NONE", "RELU", "PRELU", "LEAKYRELU", "RELU6", "HSIGMOID", "HSWISH")
POOL_TYPES = ("MAX", "AVG")
ELTWISE_TYPES = ("ADD", "MUL")
BANK_KINDS = ("image", "weights", "bias", "dwweights")


@dataclass(frozen=True)
class IsaLayout:
    """How wide the bank fields of an instruction-layout variant are."""

    name: str
    bank_addr_bits: int
    bank_id_bits: int

    @property
    def max_depth(self) -> int:
        """Deepest bank the bank_addr field can address (in bank words)."""
        return 1 << self.bank_addr_bits

    @property
    def max_bank_id(self) -> int:
        """Highest bank id the bank_id field can hold."""
        return (1 << self.bank_id_bits) - 1


#: ISA1 is the published DPUCZDX8G layout; ISA1X is the project's wider layout for the other families.
ISA_LAYOUTS: dict[str, IsaLayout] = {
    "ISA1": IsaLayout("ISA1", bank_addr_bits=12, bank_id_bits=6),
    "ISA1X": IsaLayout("ISA1X", bank_addr_bits=14, bank_id_bits=7),
}


def expected_isa(family: str) -> str:
    """The instruction-layout variant a family's compiled code uses: ISA1 on DPUCZDX8G, else ISA1X."""
    return "ISA1" if family == "DPUCZDX8G" else "ISA1X"


# ---------------------------------------------------------------- parts


@dataclass(frozen=True)
class BankGroup:
    """``count`` on-chip banks of ``width`` bytes x ``depth`` words with global ids from ``first_id``."""

    name: str
    kind: str
    first_id: int
    count: int
    width: int
    depth: int

    def __post_init__(self) -> None:
        where = f"banks[{self.name}]"
        check_text("banks.name", self.name)
        if self.kind not in BANK_KINDS:
            raise fail(f"{where}.kind", f"one of {', '.join(BANK_KINDS)}", self.kind)
        check_int(f"{where}.first_id", self.first_id)
        check_int(f"{where}.count", self.count, 1)
        check_int(f"{where}.width", self.width, 1)
        check_int(f"{where}.depth", self.depth, 1)

    @property
    def ids(self) -> range:
        """The global bank ids of this group, in order."""
        return range(self.first_id, self.first_id + self.count)

    @property
    def last_id(self) -> int:
        """The highest bank id of this group."""
        return self.first_id + self.count - 1

    @property
    def bytes(self) -> int:
        """Total capacity of the group in bytes."""
        return self.count * self.width * self.depth


@dataclass(frozen=True)
class Limits:
    """What the DPU accepts: kernel/stride/pad ranges, activations and op kinds per engine.

    A feature that is absent (``depthwise``/``alu`` false) has zero ranges and no activations.
    """

    conv_kernel_min: int
    conv_kernel_max: int
    conv_stride_max: int
    conv_pad_max: int
    conv_out_channels_max: int
    conv_nonlinears: tuple[str, ...]
    depthwise: bool
    dw_kernel_max: int
    dw_stride_max: int
    dw_nonlinears: tuple[str, ...]
    transposed_conv: bool
    pool_types: tuple[str, ...]
    pool_kernel_max: int
    pool_stride_max: int
    alu: bool
    alu_kernel_max: int
    alu_stride_max: int
    alu_pad_max: int
    alu_nonlinears: tuple[str, ...]
    eltwise_types: tuple[str, ...]
    eltwise_nonlinears: tuple[str, ...]
    save_argmax: bool

    def __post_init__(self) -> None:
        k = "limits."
        check_int(k + "conv_kernel_min", self.conv_kernel_min, 1)
        check_int(k + "conv_kernel_max", self.conv_kernel_max, self.conv_kernel_min)
        check_int(k + "conv_stride_max", self.conv_stride_max, 1)
        check_int(k + "conv_pad_max", self.conv_pad_max, 0)
        check_int(k + "conv_out_channels_max", self.conv_out_channels_max, 1)
        set_field(self, "conv_nonlinears", check_names(k + "conv_nonlinears", self.conv_nonlinears, NONLINEARS))
        if "NONE" not in self.conv_nonlinears:
            raise fail(k + "conv_nonlinears", "a list that contains NONE", list(self.conv_nonlinears))
        for flag in ("depthwise", "transposed_conv", "alu", "save_argmax"):
            check_bool(k + flag, getattr(self, flag))
        self._optional_engine("depthwise", ("dw_kernel_max", "dw_stride_max"), "dw_nonlinears")
        self._optional_engine("alu", ("alu_kernel_max", "alu_stride_max"), "alu_nonlinears")
        check_int(k + "alu_pad_max", self.alu_pad_max, 0, None if self.alu else 0)
        set_field(self, "pool_types", check_names(k + "pool_types", self.pool_types, POOL_TYPES))
        low = 1 if self.pool_types else 0
        check_int(k + "pool_kernel_max", self.pool_kernel_max, low, None if self.pool_types else 0)
        check_int(k + "pool_stride_max", self.pool_stride_max, low, None if self.pool_types else 0)
        set_field(self, "eltwise_types", check_names(k + "eltwise_types", self.eltwise_types, ELTWISE_TYPES))
        set_field(
            self,
            "eltwise_nonlinears",
            check_names(k + "eltwise_nonlinears", self.eltwise_nonlinears, NONLINEARS),
        )

    def _optional_engine(self, flag: str, ranges: tuple[str, ...], nonlinears: str) -> None:
        present = getattr(self, flag)
        for name in ranges:
            if present:
                check_int(f"limits.{name}", getattr(self, name), 1)
            else:
                check_int(f"limits.{name}", getattr(self, name), 0, 0)
        acts = check_names(f"limits.{nonlinears}", getattr(self, nonlinears), NONLINEARS)
        if present and "NONE" not in acts:
            raise fail(f"limits.{nonlinears}", "a list that contains NONE", list(acts))
        if not present and acts:
            raise fail(f"limits.{nonlinears}", f"empty while limits.{flag} is false", list(acts))
        set_field(self, nonlinears, acts)


@dataclass(frozen=True)
class Overheads:
    """Fixed cycles each instruction costs on its engine before any data moves, the DDR latency, and
    the fixed cycles of starting and finishing one run of a DPU subgraph (``job``)."""

    load: int
    save: int
    conv: int
    misc: int
    ddr_latency: int
    job: int

    def __post_init__(self) -> None:
        for f in fields(self):
            check_int(f"overheads.{f.name}", getattr(self, f.name))


# ---------------------------------------------------------------- the target

_TOP_KEYS = (
    "target",
    "fingerprint",
    "board",
    "isa",
    "compilable",
    "clock_mhz",
    "cores",
    "batch",
    "core_batches",
    "pp",
    "icp",
    "ocp",
    "alu_pp",
    "dw_pp",
    "ddr_bytes_per_cycle",
    "overheads",
    "limits",
    "banks",
)
#: Keys of the extended arch.json form, in the order files are written.
ARCH_KEYS = _TOP_KEYS
LIMIT_KEYS = tuple(f.name for f in fields(Limits))
OVERHEAD_KEYS = tuple(f.name for f in fields(Overheads))
BANK_KEYS = tuple(f.name for f in fields(BankGroup))


@dataclass(frozen=True)
class Target:
    """One DPU configuration: identity, parallelism, clocking, memory and limits.

    ``clock_mhz`` is the clock every cycle figure (overheads, DDR bytes per cycle, peak ops) refers to.
    ``batch`` is the number of images one core processes at once (its batch lanes, which share the
    core's instruction stream); ``core_batches`` gives it per core when cores differ (the largest is
    ``batch``). Bank groups describe what one instruction stream addresses; each batch lane has its
    own copy of the image banks.
    """

    name: str
    fingerprint: int
    board: str | None
    isa: str | None
    compilable: bool
    clock_mhz: float
    cores: int
    batch: int
    core_batches: tuple[int, ...]
    pp: int
    icp: int
    ocp: int
    alu_pp: int
    dw_pp: int
    ddr_bytes_per_cycle: float
    banks: tuple[BankGroup, ...]
    limits: Limits
    overheads: Overheads

    def __post_init__(self) -> None:
        check_text("target", self.name)
        set_field(self, "fingerprint", parse_fingerprint(self.fingerprint))
        if self.fingerprint >> 56 not in FAMILIES:
            raise fail("fingerprint", "a fingerprint of a known DPU type", format_fingerprint(self.fingerprint))
        check_text("board", self.board, optional=True)
        if self.board is not None and "/" in self.board:
            raise fail("board", "a board name without '/'", self.board)
        check_bool("compilable", self.compilable)
        set_field(self, "clock_mhz", check_number("clock_mhz", self.clock_mhz))
        check_int("cores", self.cores, 1)
        check_int("batch", self.batch, 1)
        self._check_core_batches()
        for key in ("pp", "icp", "ocp", "alu_pp"):
            check_int(key, getattr(self, key), 1)
        set_field(self, "ddr_bytes_per_cycle", check_number("ddr_bytes_per_cycle", self.ddr_bytes_per_cycle))
        if not isinstance(self.limits, Limits):
            raise fail("limits", "a Limits", self.limits)
        if not isinstance(self.overheads, Overheads):
            raise fail("overheads", "an Overheads", self.overheads)
        if self.limits.depthwise:
            check_int("dw_pp", self.dw_pp, 1)
        else:
            check_int("dw_pp", self.dw_pp, 0, 0)
        self._check_isa()
        self._check_banks()
        self._check_against_fingerprint()

    # ------------------------------------------------------------ invariants

    def _check_core_batches(self) -> None:
        value = self.core_batches
        if not isinstance(value, (list, tuple)):
            raise fail("core_batches", "a list of integers, one per core", value)
        value = tuple(check_int("core_batches", v, 1, self.batch) for v in value)
        if len(value) != self.cores:
            raise fail("core_batches", f"a list of {self.cores} integers (one per core)", list(value))
        if max(value) != self.batch:
            raise fail("core_batches", f"a list whose largest entry equals batch ({self.batch})", list(value))
        set_field(self, "core_batches", value)

    def _check_isa(self) -> None:
        if not self.compilable:
            if self.isa is not None:
                raise fail("isa", "null for a target that is not compilable", self.isa)
            return
        want = expected_isa(self.family)
        if self.isa != want:
            raise fail("isa", f"{want!r} for {self.family} targets", self.isa)

    def _check_banks(self) -> None:
        if not isinstance(self.banks, (list, tuple)) or not all(isinstance(b, BankGroup) for b in self.banks):
            raise fail("banks", "a list of bank groups", self.banks)
        set_field(self, "banks", tuple(self.banks))
        if not self.compilable:
            if self.banks:
                raise fail("banks", "empty for a target that is not compilable", len(self.banks))
            return
        layout = ISA_LAYOUTS[self.isa]
        names = [b.name for b in self.banks]
        if len(set(names)) != len(names):
            raise fail("banks", "a list of groups with distinct names", names)
        taken: dict[int, str] = {}
        for b in self.banks:
            if b.last_id > layout.max_bank_id:
                raise fail(f"banks[{b.name}].first_id", f"such that ids fit {layout.name}'s 0..{layout.max_bank_id}", b.first_id)
            if b.depth > layout.max_depth:
                raise fail(f"banks[{b.name}].depth", f"<= {layout.max_depth} ({layout.name} bank addresses)", b.depth)
            for i in b.ids:
                if i in taken:
                    raise fail(f"banks[{b.name}].first_id", f"such that ids do not overlap group '{taken[i]}'", b.first_id)
                taken[i] = b.name
        kinds = [b.kind for b in self.banks]
        if kinds.count("image") < 1:
            raise fail("banks", "a list with at least one image group", kinds)
        if kinds.count("weights") != 1:
            raise fail("banks", "a list with exactly one weights group", kinds)
        for kind in ("bias", "dwweights"):
            if kinds.count(kind) > 1:
                raise fail("banks", f"a list with at most one {kind} group", kinds)
        if ("dwweights" in kinds) != self.limits.depthwise:
            need = "a dwweights group" if self.limits.depthwise else "no dwweights group"
            raise fail("banks", f"a list with {need} (limits.depthwise is {str(self.limits.depthwise).lower()})", kinds)
        for b in self.image_groups:
            if b.count % self.pp or b.width != self.icp:
                raise fail(f"banks[{b.name}]", f"a multiple of pp={self.pp} banks of icp={self.icp} bytes", (b.count, b.width))
        w = self.weights_group
        if w.count != self.ocp or w.width != self.icp:
            raise fail(f"banks[{w.name}]", f"ocp={self.ocp} banks of icp={self.icp} bytes", (w.count, w.width))

    def _check_against_fingerprint(self) -> None:
        feats = self.features
        fp = self.fingerprint_hex
        if feature_layout(self.family) == ZDX8G_LAYOUT:
            _, pp, ch = ZDX8G_SIZES[feats["size"]]
            expect = {"pp": pp, "icp": ch, "ocp": ch, "alu_pp": feats["alu_pp"]}
        else:
            expect = {"pp": feats["pp"], "icp": feats["icp"], "ocp": feats["ocp"]}
            if feats["batch"]:
                expect["batch"] = feats["batch"]
        for key, want in expect.items():
            if getattr(self, key) != want:
                raise fail(key, f"{want} as fingerprint {fp} says", getattr(self, key))
        if feature_layout(self.family) != ZDX8G_LAYOUT:
            return
        checks = (
            ("limits.save_argmax", self.limits.save_argmax, feats["save_argmax"]),
            ("limits.conv_nonlinears", "LEAKYRELU" in self.limits.conv_nonlinears, feats["conv_leakyrelu"]),
            ("limits.alu_nonlinears", "LEAKYRELU" in self.limits.alu_nonlinears, feats["alu_leakyrelu"]),
        )
        for key, have, want in checks:
            if have != want:
                what = "LEAKYRELU" if "nonlinears" in key else "true"
                verb = "include" if want else "exclude"
                raise fail(key, f"set to {verb} {what} as fingerprint {fp} says", have)
        if self.compilable and len(self.image_groups) != feats["bank_groups"]:
            raise fail("banks", f"a list with {feats['bank_groups']} image groups as fingerprint {fp} says", len(self.image_groups))

    # ------------------------------------------------------------ identity

    @property
    def family(self) -> str:
        """DPU family name from the fingerprint's type code, e.g. ``DPUCZDX8G``."""
        return FAMILIES[self.fingerprint >> 56]

    @property
    def type_code(self) -> int:
        """The fingerprint's 8-bit type code."""
        return self.fingerprint >> 56

    @property
    def isa_version(self) -> int:
        """The fingerprint's 8-bit ISA version."""
        return self.fingerprint >> 48 & 0xFF

    @property
    def feature_code(self) -> int:
        """The fingerprint's 48-bit feature code."""
        return self.fingerprint & ((1 << 48) - 1)

    @property
    def features(self) -> dict:
        """The feature code decoded with the family's layout."""
        return decode_features(self.family, self.feature_code)

    @property
    def fingerprint_hex(self) -> str:
        """The fingerprint as the original writes it, e.g. ``0x101000056010407``."""
        return format_fingerprint(self.fingerprint)

    @property
    def key(self) -> str | None:
        """``FAMILY/BOARD`` as used for arch/ directories, or None for a board-less target."""
        return None if self.board is None else f"{self.family}/{self.board}"

    @property
    def isa_layout(self) -> IsaLayout | None:
        """Bank-field widths of the instruction layout the compiled code uses (None if not compilable)."""
        return None if self.isa is None else ISA_LAYOUTS[self.isa]

    # ------------------------------------------------------------ performance

    @property
    def peak_ops_per_cycle(self) -> int:
        """Peak operations per cycle of one batch lane: 2 * PP * ICP * OCP (a MAC counts two)."""
        return 2 * self.pp * self.icp * self.ocp

    @property
    def lanes(self) -> int:
        """Images the whole device processes at once: the sum of the cores' batch lanes."""
        return sum(self.core_batches)

    @property
    def peak_gops(self) -> float:
        """Peak GOPS of the device: ops/cycle x clock x all batch lanes of all cores."""
        return self.peak_ops_per_cycle * self.clock_mhz * self.lanes / 1e3

    @property
    def ddr_gbytes_per_second(self) -> float:
        """DDR bandwidth one core can use, in GB/s (ddr_bytes_per_cycle at clock_mhz)."""
        return self.ddr_bytes_per_cycle * self.clock_mhz / 1e3

    # ------------------------------------------------------------ banks

    def bank_group(self, name: str) -> BankGroup:
        """The bank group called ``name``; TargetError if the target has none by that name."""
        for b in self.banks:
            if b.name == name:
                return b
        known = ", ".join(b.name for b in self.banks) or "none"
        raise TargetError(f"target {self.name} has no bank group {name!r}; known: {known}")

    def groups(self, kind: str) -> tuple[BankGroup, ...]:
        """All bank groups of one kind (image, weights, bias, dwweights), in id order."""
        if kind not in BANK_KINDS:
            raise TargetError(f"unknown bank kind {kind!r}; known: {', '.join(BANK_KINDS)}")
        return tuple(sorted((b for b in self.banks if b.kind == kind), key=lambda b: b.first_id))

    @property
    def image_groups(self) -> tuple[BankGroup, ...]:
        """The image (feature-map) bank groups, e.g. VB0, VB1."""
        return self.groups("image")

    @property
    def image_bank_ids(self) -> tuple[int, ...]:
        """Every image bank id, group after group."""
        return tuple(i for b in self.image_groups for i in b.ids)

    @property
    def weights_group(self) -> BankGroup:
        """The conv weights bank group."""
        (w,) = self.groups("weights")
        return w

    @property
    def bias_group(self) -> BankGroup:
        """Where biases live: the bias group, or the weights group on targets without one (DPUCADF8H)."""
        bias = self.groups("bias")
        return bias[0] if bias else self.weights_group

    @property
    def dwweights_group(self) -> BankGroup | None:
        """The depthwise weights group, or None when the target has no depthwise engine."""
        dw = self.groups("dwweights")
        return dw[0] if dw else None

    @property
    def on_chip_bytes(self) -> int:
        """Total bytes of all bank groups one instruction stream addresses."""
        return sum(b.bytes for b in self.banks)

    def conv_weights_fit(self, kernel_h: int, kernel_w: int, in_channels: int) -> bool:
        """Rule: a conv's weights fit when kh * kw * ceil(Cin / ICP) <= weights bank depth; a
        quantization-only target (no banks modelled, e.g. the IPU overlay) sets no such bound."""
        if not self.groups("weights"):
            return True
        need = kernel_h * kernel_w * -(-in_channels // self.icp)
        return need <= self.weights_group.depth

    # ------------------------------------------------------------ serialisation

    def to_dict(self) -> dict:
        """The extended arch.json form: short-form keys first, then every modelled parameter."""
        return {
            "target": self.name,
            "fingerprint": self.fingerprint_hex,
            "board": self.board,
            "isa": self.isa,
            "compilable": self.compilable,
            "clock_mhz": self.clock_mhz,
            "cores": self.cores,
            "batch": self.batch,
            "core_batches": list(self.core_batches),
            "pp": self.pp,
            "icp": self.icp,
            "ocp": self.ocp,
            "alu_pp": self.alu_pp,
            "dw_pp": self.dw_pp,
            "ddr_bytes_per_cycle": self.ddr_bytes_per_cycle,
            "overheads": {k: getattr(self.overheads, k) for k in OVERHEAD_KEYS},
            "limits": {k: _plain(getattr(self.limits, k)) for k in LIMIT_KEYS},
            "banks": [{k: getattr(b, k) for k in BANK_KEYS} for b in self.banks],
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "<dict>") -> Target:
        """Build a target from its complete extended form; errors name ``source`` and the key."""
        try:
            return cls._from_dict(data)
        except TargetError as exc:
            raise TargetError(
                f"invalid target description in {source}: {exc}; fix the value or remove the key"
            ) from None

    @classmethod
    def _from_dict(cls, data: dict) -> Target:
        if not isinstance(data, dict):
            raise fail("<top level>", "a JSON object", type(data).__name__)
        _exact_keys("", data, _TOP_KEYS)
        limits = data["limits"]
        overheads = data["overheads"]
        banks = data["banks"]
        if not isinstance(limits, dict):
            raise fail("limits", "an object", limits)
        if not isinstance(overheads, dict):
            raise fail("overheads", "an object", overheads)
        if not isinstance(banks, list) or not all(isinstance(b, dict) for b in banks):
            raise fail("banks", "a list of objects", banks)
        _exact_keys("limits.", limits, LIMIT_KEYS)
        if "job" not in overheads:  # written before the key existed (compiled models): no job overhead then
            overheads = {**overheads, "job": 0}
        _exact_keys("overheads.", overheads, OVERHEAD_KEYS)
        for i, b in enumerate(banks):
            _exact_keys(f"banks[{i}].", b, BANK_KEYS)
        fingerprint = data["fingerprint"]
        if isinstance(fingerprint, bool) or not isinstance(fingerprint, (str, int)):
            raise fail("fingerprint", "a hex string like '0x101000056010407'", fingerprint)
        check_text("isa", data["isa"], optional=True)
        return cls(
            name=data["target"],
            fingerprint=fingerprint,
            board=data["board"],
            isa=data["isa"],
            compilable=data["compilable"],
            clock_mhz=data["clock_mhz"],
            cores=data["cores"],
            batch=data["batch"],
            core_batches=data["core_batches"],
            pp=data["pp"],
            icp=data["icp"],
            ocp=data["ocp"],
            alu_pp=data["alu_pp"],
            dw_pp=data["dw_pp"],
            ddr_bytes_per_cycle=data["ddr_bytes_per_cycle"],
            banks=tuple(BankGroup(**b) for b in banks),
            limits=Limits(**limits),
            overheads=Overheads(**overheads),
        )


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def _exact_keys(prefix: str, data: dict, keys: tuple[str, ...]) -> None:
    for key in data:
        if key not in keys:
            raise TargetError(f"unknown key '{prefix}{key}' (known: {', '.join(keys)})")
    for key in keys:
        if key not in data:
            raise TargetError(f"missing key '{prefix}{key}'")


__all__ = [
    "ARCH_KEYS",
    "BANK_KINDS",
    "BankGroup",
    "ELTWISE_TYPES",
    "ISA_LAYOUTS",
    "IsaLayout",
    "Limits",
    "NONLINEARS",
    "Overheads",
    "POOL_TYPES",
    "Target",
    "expected_isa",
]
