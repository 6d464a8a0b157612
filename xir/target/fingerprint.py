"""DPU fingerprints: the 64-bit identity a compiled model carries and a runtime checks.

Layout (docs/targets.md, Fingerprints): ``type << 56 | isa_version << 48 | feature_code``, with an 8-bit type,
an 8-bit ISA version and a 48-bit feature code. A model compiled for one fingerprint must not run
on another, so every target of the catalog has a distinct fingerprint.

Feature codes follow one of two layouts:

* DPUCZDX8G, as published: bits[3:0] size (B512 0 … B4096 7), bits[11:8] ALU/eltwise pixel
  parallelism, bits[19:16] a field that equals 1 in every published code (kept as observed),
  bits[25:24] image bank groups, bit 26 channel augmentation, bit 28 conv leaky-relu,
  bit 29 ALU leaky-relu, bit 30 save argmax.
* every other family, project-defined ("parallelism layout"): bits[7:0] PP, bits[15:8] ICP,
  bits[23:16] OCP, bits[31:24] batch (0 when the batch is a board fact), bits[39:32] variant.
"""

from __future__ import annotations

from dataclasses import dataclass

from xir.target.errors import TargetError

#: Published DPU type codes, plus DPUCADX8G whose code is project-defined (the original never
#: published one; 0x40 sits far from the published 1..9 so a future published type cannot collide soon).
TYPE_CODES: dict[str, int] = {
    "DPUCZDX8G": 1,
    "DPUCAHX8H": 2,
    "DPUCAHX8L": 3,
    "DPUCZDI4G": 4,
    "DPUCVDX8H": 5,
    "DPUCVDX8G": 6,
    "DPUCADF8H": 7,
    "IPU_PHX": 8,
    "DPUCV2DX8G": 9,
    "DPUCADX8G": 0x40,
}
FAMILIES: dict[int, str] = {code: name for name, code in TYPE_CODES.items()}
#: The one type code the project invented.
PROJECT_TYPE_CODES = frozenset({TYPE_CODES["DPUCADX8G"]})

FEATURE_BITS = 48
FEATURE_MASK = (1 << FEATURE_BITS) - 1

#: DPUCZDX8G sizes: name -> (size code, PP, ICP = OCP).
ZDX8G_SIZES: dict[str, tuple[int, int, int]] = {
    "B512": (0, 4, 8),
    "B800": (1, 4, 10),
    "B1024": (2, 8, 8),
    "B1152": (3, 4, 12),
    "B1600": (4, 8, 10),
    "B2304": (5, 8, 12),
    "B3136": (6, 8, 14),
    "B4096": (7, 8, 16),
}
_ZDX8G_SIZE_BY_CODE = {code: name for name, (code, _, _) in ZDX8G_SIZES.items()}
# Every bit position the DPUCZDX8G layout defines; a code with any other bit set is not decodable.
_ZDX8G_KNOWN_BITS = 0xF | 0xF << 8 | 0xF << 16 | 0x3 << 24 | 1 << 26 | 1 << 28 | 1 << 29 | 1 << 30

#: The feature-code layout each family uses.
ZDX8G_LAYOUT = "DPUCZDX8G"
PARALLEL_LAYOUT = "parallelism"


def feature_layout(family: str | None) -> str:
    """Return the feature-code layout of a family: the published DPUCZDX8G one or the project's."""
    return ZDX8G_LAYOUT if family == "DPUCZDX8G" else PARALLEL_LAYOUT


@dataclass(frozen=True)
class Fingerprint:
    """A decoded fingerprint; ``family`` is None when the type code is not one we know."""

    family: str | None
    type_code: int
    isa_version: int
    feature_code: int

    @property
    def value(self) -> int:
        """The 64-bit integer this fingerprint encodes to."""
        return self.type_code << 56 | self.isa_version << 48 | self.feature_code

    @property
    def features(self) -> dict:
        """The feature code decoded with the family's layout (raises TargetError for unknown types)."""
        if self.family is None:
            raise TargetError(
                f"cannot decode the features of fingerprint {format_fingerprint(self.value)}: "
                f"type code {self.type_code} is not a known DPU type; known: {_known_types()}"
            )
        return decode_features(self.family, self.feature_code)

    def __str__(self) -> str:
        return format_fingerprint(self.value)


def _known_types() -> str:
    return ", ".join(f"{name} {code}" for name, code in TYPE_CODES.items())


def _check_field(name: str, value: object, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise TargetError(f"{name} must be an integer in 0..{(1 << bits) - 1}, got {value!r}")
    return value


def type_code_of(type_name_or_code: str | int) -> int:
    """Return the 8-bit type code of a family name (case-insensitive) or check a numeric code."""
    if isinstance(type_name_or_code, str):
        code = TYPE_CODES.get(type_name_or_code.upper())
        if code is None:
            raise TargetError(f"unknown DPU family {type_name_or_code!r}; known: {_known_types()}")
        return code
    return _check_field("type code", type_name_or_code, 8)


def encode_fingerprint(type_name_or_code: str | int, isa_version: int, feature_code: int) -> int:
    """Pack type (8 bits), ISA version (8 bits) and feature code (48 bits) into a 64-bit fingerprint."""
    code = type_code_of(type_name_or_code)
    _check_field("isa_version", isa_version, 8)
    _check_field("feature_code", feature_code, FEATURE_BITS)
    return code << 56 | isa_version << 48 | feature_code


def decode_fingerprint(fingerprint: int | str) -> Fingerprint:
    """Split a 64-bit fingerprint into family, type code, ISA version and 48-bit feature code."""
    value = parse_fingerprint(fingerprint)
    type_code = value >> 56
    return Fingerprint(FAMILIES.get(type_code), type_code, value >> 48 & 0xFF, value & FEATURE_MASK)


def format_fingerprint(fingerprint: int) -> str:
    """Render a fingerprint as the original does: ``0x`` + lowercase hex, no zero padding."""
    return f"0x{_check_field('fingerprint', fingerprint, 64):x}"


def parse_fingerprint(text: str | int) -> int:
    """Read a fingerprint given as an int, a ``0x`` hex string or a decimal string; must fit 64 bits."""
    if isinstance(text, str):
        s = text.strip()
        try:
            value = int(s, 16) if s[:2].lower() == "0x" else int(s, 10)
        except ValueError:
            raise TargetError(
                f"fingerprint {text!r} is not a number; write it as hex like '0x101000056010407'"
            ) from None
        return _check_field("fingerprint", value, 64)
    return _check_field("fingerprint", text, 64)


def _size_name(size: str | int) -> str:
    if isinstance(size, int) and not isinstance(size, bool):
        size = f"B{size}"
    if isinstance(size, str) and size.upper() in ZDX8G_SIZES:
        return size.upper()
    raise TargetError(f"unknown DPUCZDX8G size {size!r}; known: {', '.join(ZDX8G_SIZES)}")


def encode_zdx8g_features(
    size: str | int,
    alu_pp: int,
    bank_groups: int,
    channel_augmentation: bool,
    conv_leakyrelu: bool,
    alu_leakyrelu: bool,
    save_argmax: bool,
    bits_19_16: int = 1,
) -> int:
    """Build a DPUCZDX8G feature code; ``bits_19_16`` defaults to the 1 every published code has."""
    code = ZDX8G_SIZES[_size_name(size)][0]
    _check_field("alu_pp", alu_pp, 4)
    _check_field("bank_groups", bank_groups, 2)
    _check_field("bits_19_16", bits_19_16, 4)
    return (
        code
        | alu_pp << 8
        | bits_19_16 << 16
        | bank_groups << 24
        | bool(channel_augmentation) << 26
        | bool(conv_leakyrelu) << 28
        | bool(alu_leakyrelu) << 29
        | bool(save_argmax) << 30
    )


def decode_zdx8g_features(code: int) -> dict:
    """Decode a DPUCZDX8G feature code into the keyword arguments of :func:`encode_zdx8g_features`."""
    _check_field("feature_code", code, FEATURE_BITS)
    if code & ~_ZDX8G_KNOWN_BITS:
        raise TargetError(
            f"DPUCZDX8G feature code 0x{code:x} sets bits the published layout does not define "
            f"(mask 0x{code & ~_ZDX8G_KNOWN_BITS:x}); check the fingerprint"
        )
    size_code = code & 0xF
    if size_code not in _ZDX8G_SIZE_BY_CODE:
        raise TargetError(
            f"DPUCZDX8G feature code 0x{code:x} has size code {size_code}, which is no known size; "
            f"known: {', '.join(f'{n} {c}' for n, (c, _, _) in ZDX8G_SIZES.items())}"
        )
    return {
        "size": _ZDX8G_SIZE_BY_CODE[size_code],
        "alu_pp": code >> 8 & 0xF,
        "bank_groups": code >> 24 & 0x3,
        "channel_augmentation": bool(code >> 26 & 1),
        "conv_leakyrelu": bool(code >> 28 & 1),
        "alu_leakyrelu": bool(code >> 29 & 1),
        "save_argmax": bool(code >> 30 & 1),
        "bits_19_16": code >> 16 & 0xF,
    }


def encode_parallel_features(pp: int, icp: int, ocp: int, batch: int, variant: int = 0) -> int:
    """Build a project-layout feature code: PP, ICP, OCP, batch (0 = board fact), variant; a byte each."""
    for name, value in (("pp", pp), ("icp", icp), ("ocp", ocp), ("batch", batch), ("variant", variant)):
        _check_field(name, value, 8)
    return pp | icp << 8 | ocp << 16 | batch << 24 | variant << 32


def decode_parallel_features(code: int) -> dict:
    """Decode a project-layout feature code into the arguments of :func:`encode_parallel_features`."""
    _check_field("feature_code", code, FEATURE_BITS)
    if code >> 40:
        raise TargetError(
            f"feature code 0x{code:x} sets bits above bit 39, which the project layout does not define; "
            "check the fingerprint"
        )
    return {
        "pp": code & 0xFF,
        "icp": code >> 8 & 0xFF,
        "ocp": code >> 16 & 0xFF,
        "batch": code >> 24 & 0xFF,
        "variant": code >> 32 & 0xFF,
    }


def decode_features(family: str, code: int) -> dict:
    """Decode a feature code with the layout its family uses."""
    if feature_layout(family) == ZDX8G_LAYOUT:
        return decode_zdx8g_features(code)
    return decode_parallel_features(code)
