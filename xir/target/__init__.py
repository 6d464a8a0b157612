"""Target descriptions: fingerprints, the DPU target model, the built-in catalog and arch.json loading.

Typical use: ``load_target("DPUCZDX8G/KV260")`` (or a path, a target name, a fingerprint) returns a
validated :class:`Target`; ``list_targets()`` names every ``FAMILY/BOARD`` of the arch/ library.
"""

from xir.target.archfile import arch_library, read_arch_file, render_arch_json, target_from_arch_dict
from xir.target.catalog import (
    IPU_TARGET,
    board_by_key,
    catalog_boards,
    catalog_targets,
    target_by_fingerprint,
    target_by_name,
)
from xir.target.errors import TargetError
from xir.target.fingerprint import (
    TYPE_CODES,
    ZDX8G_SIZES,
    Fingerprint,
    decode_features,
    decode_fingerprint,
    decode_parallel_features,
    decode_zdx8g_features,
    encode_fingerprint,
    encode_parallel_features,
    encode_zdx8g_features,
    format_fingerprint,
    parse_fingerprint,
)
from xir.target.loader import ENV_VAR, arch_root, list_targets, load_target
from xir.target.model import ISA_LAYOUTS, BankGroup, IsaLayout, Limits, Overheads, Target

__all__ = [
    "ENV_VAR",
    "IPU_TARGET",
    "ISA_LAYOUTS",
    "TYPE_CODES",
    "ZDX8G_SIZES",
    "BankGroup",
    "Fingerprint",
    "IsaLayout",
    "Limits",
    "Overheads",
    "Target",
    "TargetError",
    "arch_library",
    "arch_root",
    "board_by_key",
    "catalog_boards",
    "catalog_targets",
    "decode_features",
    "decode_fingerprint",
    "decode_parallel_features",
    "decode_zdx8g_features",
    "encode_fingerprint",
    "encode_parallel_features",
    "encode_zdx8g_features",
    "format_fingerprint",
    "list_targets",
    "load_target",
    "parse_fingerprint",
    "read_arch_file",
    "render_arch_json",
    "target_by_fingerprint",
    "target_by_name",
    "target_from_arch_dict",
]
