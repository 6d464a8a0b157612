"""The built-in target table: every known DPU configuration and every board that uses one.

Two levels, as in the original flow:

* targets, by name (``DPUCZDX8G_ISA1_B4096``, ``DPUCADF8H_ISA0``, ...): the DPU as a fingerprint
  identifies it, described as one core at the family's nominal clock (board None);
* boards, by ``FAMILY/BOARD`` (``DPUCZDX8G/KV260``, ``DPUCAHX8H/U280``, ...): a target plus the
  board's facts (cores, clock, batch lanes per core, DDR share). The arch/ library is generated from
  this table by scripts/gen_arch.py.

Numbers marked "fact" come from public sources named in docs/targets.md; every other number is a project
modeling choice, explained in docs/targets.md. Fingerprints are unique per target; boards share the
fingerprint of their target, as the original boards do.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cache

from xir.target.errors import TargetError
from xir.target.fingerprint import (
    ZDX8G_SIZES,
    encode_fingerprint,
    encode_parallel_features,
    encode_zdx8g_features,
    format_fingerprint,
    parse_fingerprint,
)
from xir.target.model import BankGroup, Limits, Overheads, Target

#: The IPU overlay name users pass to the quantizer (``target=...``); quantization-only.
IPU_TARGET = "AMD_AIE2_Nx4_Overlay_cfg0"
#: other names of built-in targets (upper case): the overlay is also given without its configuration suffix
TARGET_ALIASES = {"AMD_AIE2_NX4_OVERLAY": IPU_TARGET}


def natural_key(text: str) -> tuple:
    """Sort key that orders embedded numbers by value (B512 before B1024), ignoring case."""
    return tuple(int(part) if part.isdigit() else part.upper() for part in re.split(r"(\d+)", text))


def _banks(*groups: tuple[str, str, int, int, int]) -> tuple[BankGroup, ...]:
    """Lay groups out with consecutive global ids, in the order given: (name, kind, count, width, depth)."""
    out, next_id = [], 0
    for name, kind, count, width, depth in groups:
        out.append(BankGroup(name, kind, next_id, count, width, depth))
        next_id += count
    return tuple(out)


def _target(name: str, fingerprint: int, *, cores: int = 1, core_batches: tuple[int, ...] | None = None,
            batch: int = 1, **kw) -> Target:
    core_batches = core_batches or (batch,) * cores
    return Target(name=name, fingerprint=fingerprint, board=None, cores=cores, batch=max(core_batches),
                  core_batches=core_batches, **kw)


# ---------------------------------------------------------------- DPUCZDX8G (Zynq UltraScale+ MPSoC)

_ZDX8G_DEFAULT_FEATURES = dict(bank_groups=2, channel_augmentation=True, conv_leakyrelu=True,
                               alu_leakyrelu=False, save_argmax=True)  # fact: every code in the table


def _zdx8g(size: str, **features) -> Target:
    """One DPUCZDX8G size; ``features`` override the table's defaults and give the variant name.

    Banks scale with the size (project rule from the B4096 fact): each image group has PP banks of
    ICP bytes, weights OCP banks of ICP bytes, depthwise weights 1 x ICP, bias 1 x OCP, all 2048 deep.
    """
    _, pp, ch = ZDX8G_SIZES[size]
    feats = {**_ZDX8G_DEFAULT_FEATURES, **features}
    code = encode_zdx8g_features(size, alu_pp=pp // 2, **feats)
    fingerprint = encode_fingerprint("DPUCZDX8G", 1, code)
    name = f"DPUCZDX8G_ISA1_{size}"
    if features:
        name += f"_{fingerprint:016x}"  # the original's naming for a non-default configuration
    images = [(f"VB{i}", "image", pp, ch, 2048) for i in range(feats["bank_groups"])]
    return _target(
        name, fingerprint, isa="ISA1", compilable=True, clock_mhz=300.0,
        pp=pp, icp=ch, ocp=ch, alu_pp=pp // 2, dw_pp=pp // 2,
        ddr_bytes_per_cycle=23.46,  # effective DDR rate, fitted (docs/timing.md); the two 128-bit AXI ports give 32
        banks=_banks(*images, ("WB", "weights", ch, ch, 2048), ("DWB", "dwweights", 1, ch, 2048),
                     ("BB", "bias", 1, ch, 2048)),
        limits=Limits(
            conv_kernel_min=1, conv_kernel_max=16, conv_stride_max=8, conv_pad_max=15,
            conv_out_channels_max=256 * ch,
            conv_nonlinears=("NONE", "RELU", "RELU6", *(["LEAKYRELU"] if feats["conv_leakyrelu"] else []),
                             "HSIGMOID", "HSWISH"),
            depthwise=True, dw_kernel_max=16, dw_stride_max=8, dw_nonlinears=("NONE", "RELU", "RELU6"),
            transposed_conv=True,
            pool_types=("MAX", "AVG"), pool_kernel_max=8, pool_stride_max=8,
            alu=True, alu_kernel_max=256, alu_stride_max=256, alu_pad_max=15,
            alu_nonlinears=("NONE", "RELU", "RELU6", "PRELU", *(["LEAKYRELU"] if feats["alu_leakyrelu"] else []),
                            "HSIGMOID", "HSWISH"),  # fact: the DPU has them; only ALUINIT holds their fix positions
            eltwise_types=("ADD", "MUL"), eltwise_nonlinears=("NONE", "RELU"),
            save_argmax=feats["save_argmax"],
        ),
        overheads=Overheads(load=94, save=0, conv=0, misc=0, ddr_latency=615, job=2669),  # fitted (docs/timing.md)
    )


# ---------------------------------------------------------------- Alveo and Versal families

_ISA1X_OVERHEADS_300 = Overheads(load=16, save=16, conv=10, misc=10, ddr_latency=100, job=0)


def _dpucadf8h() -> Target:
    """DPUCADF8H on Alveo U200/U250 (facts: ICP/OCP 16, PP 8, batch 4, banks, eltwise/pool PP 2, dw 64 x PP 4)."""
    return _target(
        "DPUCADF8H_ISA0", encode_fingerprint("DPUCADF8H", 0, encode_parallel_features(8, 16, 16, 4)),
        isa="ISA1X", compilable=True, clock_mhz=300.0, batch=4,
        pp=8, icp=16, ocp=16, alu_pp=2, dw_pp=4,
        ddr_bytes_per_cycle=64.0,  # one 512-bit DDR4 port per core: 19.2 GB/s at 300 MHz
        banks=_banks(("VB0", "image", 8, 16, 8192), ("VB1", "image", 8, 16, 8192), ("VB2", "image", 8, 16, 8192),
                     ("WB", "weights", 16, 16, 8192), ("DWB", "dwweights", 1, 64, 4096)),
        limits=Limits(
            conv_kernel_min=1, conv_kernel_max=16, conv_stride_max=8, conv_pad_max=15,
            conv_out_channels_max=256 * 16, conv_nonlinears=("NONE", "RELU", "RELU6", "LEAKYRELU"),
            depthwise=True, dw_kernel_max=16, dw_stride_max=8, dw_nonlinears=("NONE", "RELU", "RELU6"),
            transposed_conv=True,
            pool_types=("MAX", "AVG"), pool_kernel_max=8, pool_stride_max=8,
            alu=False, alu_kernel_max=0, alu_stride_max=0, alu_pad_max=0, alu_nonlinears=(),
            eltwise_types=("ADD",), eltwise_nonlinears=("NONE", "RELU"), save_argmax=False,
        ),
        overheads=_ISA1X_OVERHEADS_300,
    )


def _ahx8h_ddr(engines: int) -> float:
    """Per core: one 256-bit HBM port per batch engine for feature maps plus one for weights."""
    return 32.0 * (engines + 1)


def _dpucahx8h() -> Target:
    """DPUCAHX8H on Alveo U50/U50LV/U280 (facts: per engine ICP/OCP 16, PP 8, image 8 x 16 x 8192,
    conv stride 1-4, pool kernel 1-8). Each engine is one batch lane of its core."""
    return _target(
        "DPUCAHX8H_ISA2", encode_fingerprint("DPUCAHX8H", 2, encode_parallel_features(8, 16, 16, 0)),
        isa="ISA1X", compilable=True, clock_mhz=300.0, batch=3,
        pp=8, icp=16, ocp=16, alu_pp=4, dw_pp=0,
        ddr_bytes_per_cycle=_ahx8h_ddr(3),
        banks=_banks(("VB0", "image", 8, 16, 8192), ("VB1", "image", 8, 16, 8192),
                     ("WB", "weights", 16, 16, 8192), ("BB", "bias", 1, 16, 2048)),
        limits=Limits(
            conv_kernel_min=1, conv_kernel_max=16, conv_stride_max=4, conv_pad_max=15,
            conv_out_channels_max=256 * 16, conv_nonlinears=("NONE", "RELU", "RELU6", "LEAKYRELU"),
            depthwise=False, dw_kernel_max=0, dw_stride_max=0, dw_nonlinears=(),
            transposed_conv=False,
            pool_types=("MAX", "AVG"), pool_kernel_max=8, pool_stride_max=8,
            alu=False, alu_kernel_max=0, alu_stride_max=0, alu_pad_max=0, alu_nonlinears=(),
            eltwise_types=("ADD",), eltwise_nonlinears=("NONE", "RELU"), save_argmax=False,
        ),
        overheads=_ISA1X_OVERHEADS_300,
    )


def _dpucvdx8g() -> Target:
    """DPUCVDX8G C32B6 on VCK190 (facts: ICP 16, OCP 32, PP 8, batch 6, AIE 1.25 GHz, PL 333 MHz).

    The timing clock is the AIE clock, so 2*8*16*32 ops/cycle x 6 lanes x 1250 MHz = 61.44 TOPS (fact
    61.4); PL-side rates (DDR, MISC engine, overheads) are converted into AIE cycles (x 1250/333).
    """
    return _target(
        "DPUCVDX8G_ISA3_C32B6", encode_fingerprint("DPUCVDX8G", 3, encode_parallel_features(8, 16, 32, 6)),
        isa="ISA1X", compilable=True, clock_mhz=1250.0, batch=6,
        pp=8, icp=16, ocp=32,
        alu_pp=2,  # PL MISC engine of PP 8 at 333 MHz ~ 2.1 pixels per AIE cycle
        dw_pp=2,
        ddr_bytes_per_cycle=34.1,  # two 512-bit NoC ports at 333 MHz = 42.6 GB/s, per 1.25 GHz cycle
        banks=_banks(("VB0", "image", 8, 16, 8192), ("VB1", "image", 8, 16, 8192),
                     ("WB", "weights", 32, 16, 8192), ("DWB", "dwweights", 1, 16, 8192),
                     ("BB", "bias", 1, 32, 2048)),
        limits=Limits(
            conv_kernel_min=1, conv_kernel_max=16, conv_stride_max=8, conv_pad_max=15,
            conv_out_channels_max=256 * 32,
            conv_nonlinears=("NONE", "RELU", "RELU6", "LEAKYRELU", "HSIGMOID", "HSWISH"),
            depthwise=True, dw_kernel_max=16, dw_stride_max=8, dw_nonlinears=("NONE", "RELU", "RELU6"),
            transposed_conv=True,
            pool_types=("MAX", "AVG"), pool_kernel_max=8, pool_stride_max=8,
            alu=True, alu_kernel_max=256, alu_stride_max=256, alu_pad_max=15,
            # the activations its conv list claims, applied where their fix positions fit: ALUINIT
            alu_nonlinears=("NONE", "RELU", "RELU6", "LEAKYRELU", "PRELU", "HSIGMOID", "HSWISH"),
            eltwise_types=("ADD", "MUL"), eltwise_nonlinears=("NONE", "RELU"), save_argmax=False,
        ),
        overheads=Overheads(load=60, save=60, conv=40, misc=40, ddr_latency=400, job=0),
    )


def _dpucadx8g() -> Target:
    """Legacy xDNN on Alveo U200/U250 (facts: 96 x 16 systolic array, 9 MB tensor memory, 350 MHz).

    Modeled as ICP 96 x OCP 16 with PP 2 (the DSPs run at twice the 350 MHz kernel clock), so one
    kernel peaks at 6144 ops/cycle; the 9 MiB tensor memory is three image groups of 2 x 96 B x 16384.
    """
    return _target(
        "DPUCADX8G", encode_fingerprint("DPUCADX8G", 0, encode_parallel_features(2, 96, 16, 1)),
        isa="ISA1X", compilable=True, clock_mhz=350.0,
        pp=2, icp=96, ocp=16, alu_pp=2, dw_pp=0,
        ddr_bytes_per_cycle=54.86,  # one DDR4-2400 channel (19.2 GB/s) per kernel at 350 MHz
        banks=_banks(("VB0", "image", 2, 96, 16384), ("VB1", "image", 2, 96, 16384), ("VB2", "image", 2, 96, 16384),
                     ("WB", "weights", 16, 96, 4096), ("BB", "bias", 1, 16, 2048)),
        limits=Limits(
            conv_kernel_min=1, conv_kernel_max=16, conv_stride_max=4, conv_pad_max=15,
            conv_out_channels_max=256 * 16, conv_nonlinears=("NONE", "RELU"),
            depthwise=False, dw_kernel_max=0, dw_stride_max=0, dw_nonlinears=(),
            transposed_conv=False,
            pool_types=("MAX", "AVG"), pool_kernel_max=8, pool_stride_max=8,
            alu=False, alu_kernel_max=0, alu_stride_max=0, alu_pad_max=0, alu_nonlinears=(),
            eltwise_types=("ADD",), eltwise_nonlinears=("NONE", "RELU"), save_argmax=False,
        ),
        overheads=Overheads(load=16, save=16, conv=10, misc=10, ddr_latency=120, job=0),
    )


def _ipu() -> Target:
    """The Ryzen AI (Phoenix) IPU overlay, for hardware-aware quantization only (not compilable).

    Modeled as a 4 x 4 block of AIE-ML tiles of 512 int8 ops/cycle each (PP 8 x ICP 16 x OCP 32) at 1 GHz.
    """
    return _target(
        IPU_TARGET, encode_fingerprint("IPU_PHX", 0, encode_parallel_features(8, 16, 32, 1)),
        isa=None, compilable=False, clock_mhz=1000.0,
        pp=8, icp=16, ocp=32, alu_pp=4, dw_pp=4,
        ddr_bytes_per_cycle=64.0,
        banks=(),
        limits=Limits(
            conv_kernel_min=1, conv_kernel_max=16, conv_stride_max=8, conv_pad_max=15,
            conv_out_channels_max=256 * 32,
            conv_nonlinears=("NONE", "RELU", "RELU6", "LEAKYRELU", "PRELU", "HSIGMOID", "HSWISH"),
            depthwise=True, dw_kernel_max=16, dw_stride_max=8, dw_nonlinears=("NONE", "RELU", "RELU6"),
            transposed_conv=True,
            pool_types=("MAX", "AVG"), pool_kernel_max=8, pool_stride_max=8,
            alu=True, alu_kernel_max=256, alu_stride_max=256, alu_pad_max=15,
            alu_nonlinears=("NONE", "RELU", "RELU6", "LEAKYRELU", "PRELU"),
            eltwise_types=("ADD", "MUL"), eltwise_nonlinears=("NONE", "RELU"), save_argmax=False,
        ),
        overheads=Overheads(load=16, save=16, conv=10, misc=10, ddr_latency=100, job=0),
    )


# ---------------------------------------------------------------- tables


@cache
def catalog_targets() -> dict[str, Target]:
    """Every built-in target by name, as one core at the family's nominal clock (board None)."""
    targets = [_zdx8g(size) for size in ZDX8G_SIZES]
    targets.append(_zdx8g("B4096", save_argmax=False))  # the fingerprint 0x101000016010407 boards publish
    targets += [_dpucadf8h(), _dpucahx8h(), _dpucvdx8g(), _dpucadx8g(), _ipu()]
    return {t.name: t for t in targets}


def _board(target: str, board: str, cores: int, clock_mhz: float,
           core_batches: tuple[int, ...] | None = None, ddr_bytes_per_cycle: float | None = None) -> Target:
    base = catalog_targets()[target]
    core_batches = core_batches or (base.batch,) * cores
    return replace(
        base, board=board, cores=cores, clock_mhz=clock_mhz, core_batches=core_batches,
        batch=max(core_batches), ddr_bytes_per_cycle=ddr_bytes_per_cycle or base.ddr_bytes_per_cycle,
    )


@cache
def catalog_boards() -> dict[str, Target]:
    """Every built-in board by ``FAMILY/BOARD``: its target with the board's cores, clock and lanes."""
    z = "DPUCZDX8G_ISA1_"
    boards = [
        _board(z + "B4096", "ZCU102", 3, 281.0),  # fact
        _board(z + "B4096", "ZCU104", 2, 300.0),  # fact
        _board(z + "B4096", "KV260", 1, 300.0),  # fact
        _board(z + "B1600", "Ultra96", 1, 287.0),  # fact
        *(_board(z + size, size, 1, 300.0) for size in ZDX8G_SIZES),  # size files: one core at 300 MHz
        _board("DPUCADF8H_ISA0", "U200", 2, 300.0),  # fact
        _board("DPUCADF8H_ISA0", "U250", 4, 300.0),  # fact
        _board("DPUCAHX8H_ISA2", "U50", 2, 300.0, (3, 3), _ahx8h_ddr(3)),  # fact: 3+3 engines
        _board("DPUCAHX8H_ISA2", "U50LV", 2, 275.0, (5, 5), _ahx8h_ddr(5)),  # fact: 5+5 engines
        _board("DPUCAHX8H_ISA2", "U280", 3, 300.0, (4, 5, 5), _ahx8h_ddr(5)),  # fact: 4+5+5 engines
        _board("DPUCVDX8G_ISA3_C32B6", "VCK190", 1, 1250.0),
        _board("DPUCADX8G", "U200", 2, 350.0),  # fact: 2 kernels
        _board("DPUCADX8G", "U250", 4, 350.0),  # fact: 4 kernels
        _board(IPU_TARGET, IPU_TARGET, 1, 1000.0),
    ]
    return {b.key: b for b in sorted(boards, key=lambda b: natural_key(b.key))}


def target_by_name(name: str) -> Target:
    """The built-in target called ``name`` (case-insensitive); TargetError listing names otherwise."""
    targets = catalog_targets()
    key = name.strip().upper()
    key = TARGET_ALIASES.get(key, key).upper()
    found = {n.upper(): t for n, t in targets.items()}.get(key)
    if found is None:
        raise TargetError(f"unknown target name {name!r}; known: {', '.join(targets)}")
    return found


def target_by_fingerprint(fingerprint: int | str, where: str = "") -> Target:
    """The built-in target with this fingerprint; TargetError listing every known fingerprint otherwise."""
    value = parse_fingerprint(fingerprint)
    for t in catalog_targets().values():
        if t.fingerprint == value:
            return t
    known = ", ".join(f"{t.name} ({t.fingerprint_hex})" for t in catalog_targets().values())
    at = f" in {where}" if where else ""
    raise TargetError(
        f"fingerprint {format_fingerprint(value)}{at} is not in the target catalog; known: {known}"
    )


def board_by_key(key: str) -> Target | None:
    """The built-in board ``FAMILY/BOARD`` (case-insensitive), or None."""
    return {k.upper(): b for k, b in catalog_boards().items()}.get(key.strip().strip("/").upper())
