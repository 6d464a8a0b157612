"""arch.json files: how a target is written to disk and how a file's text is read back.

A file holds one JSON object in one of three forms:

* ``{"target": "DPUCZDX8G_ISA1_B4096"}`` - a catalog target by name (the original short form);
* ``{"fingerprint": "0x101000056010407"}`` - a catalog target by fingerprint (the original short form);
* the extended form: the short-form keys plus any of the keys :meth:`Target.to_dict` writes; keys
  present override the catalog's values (``limits`` and ``overheads`` key by key), and the result is
  validated as a whole.

The arch/ library is rendered by :func:`render_arch_json` so the files and the catalog never drift.
"""

from __future__ import annotations

import json
from pathlib import Path

from xir.errors import FileError
from xir.files import read_text
from xir.target.catalog import board_by_key, catalog_boards, target_by_fingerprint, target_by_name
from xir.target.errors import TargetError
from xir.target.fingerprint import format_fingerprint, parse_fingerprint
from xir.target.model import ARCH_KEYS, Target

ARCH_FILE = "arch.json"


def _render(value: object, indent: int) -> str:
    """JSON with objects spread over lines but scalar lists and list items kept on one line each."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {_render(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        items = [f"{pad}{json.dumps(v)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return json.dumps(value)


def render_arch_json(target: Target) -> str:
    """The exact text scripts/gen_arch.py writes for a target: its extended form, one fact per line."""
    return _render(target.to_dict(), 0) + "\n"


def arch_library() -> dict[str, str]:
    """Every file of the built-in arch/ library: ``FAMILY/BOARD/arch.json`` -> file text."""
    return {f"{key}/{ARCH_FILE}": render_arch_json(t) for key, t in catalog_boards().items()}


def parse_arch_text(text: str, source: str) -> dict:
    """Parse arch.json text into its object; malformed JSON names the file, line and column."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TargetError(
            f"malformed JSON in {source} at line {exc.lineno} column {exc.colno}: {exc.msg}; "
            "fix the file or regenerate it with scripts/gen_arch.py"
        ) from None
    if not isinstance(data, dict):
        raise TargetError(
            f"{source} must hold a JSON object such as {{\"target\": \"DPUCZDX8G_ISA1_B4096\"}}, "
            f"not a {type(data).__name__}"
        )
    return data


def read_arch_file(path: str | Path) -> Target:
    """Load one arch.json file (any of the three forms) into a validated Target."""
    path = Path(path)
    try:
        text = read_text(path, "arch file")
    except FileError as exc:
        raise TargetError(str(exc)) from None
    return target_from_arch_dict(parse_arch_text(text, str(path)), str(path))


def _base_target(data: dict, source: str) -> Target:
    """The catalog entry a file refers to: by name and/or fingerprint, then by board if it names one."""
    name, fingerprint = data.get("target"), data.get("fingerprint")
    if name is None and fingerprint is None:
        raise TargetError(
            f"{source} names no target: give \"target\" (e.g. \"DPUCZDX8G_ISA1_B4096\") or "
            "\"fingerprint\" (e.g. \"0x101000056010407\")"
        )
    if name is not None and not isinstance(name, str):
        raise TargetError(f"invalid target description in {source}: key 'target' must be a string, got {name!r}")
    if fingerprint is not None and (isinstance(fingerprint, bool) or not isinstance(fingerprint, (str, int))):
        raise TargetError(
            f"invalid target description in {source}: key 'fingerprint' must be a hex string "
            f"like '0x101000056010407', got {fingerprint!r}"
        )
    try:
        by_name = target_by_name(name) if name is not None else None
        by_print = target_by_fingerprint(fingerprint) if fingerprint is not None else None
    except TargetError as exc:
        raise TargetError(f"{source}: {exc}") from None
    if by_name and by_print and by_name.fingerprint != by_print.fingerprint:
        raise TargetError(
            f"{source} is inconsistent: target {by_name.name} has fingerprint {by_name.fingerprint_hex}, "
            f"not {format_fingerprint(parse_fingerprint(fingerprint))}; remove one of the two keys"
        )
    base = by_name or by_print
    board = data.get("board")
    if isinstance(board, str):
        known = board_by_key(f"{base.family}/{board}")
        if known is not None and known.name == base.name:
            return known
    return base


def target_from_arch_dict(data: dict, source: str = "<dict>") -> Target:
    """Resolve an arch.json object: catalog entry first, then every key present overrides it."""
    for key in data:
        if key not in ARCH_KEYS:
            raise TargetError(
                f"invalid target description in {source}: unknown key '{key}' "
                f"(known: {', '.join(ARCH_KEYS)}); remove it"
            )
    base = _base_target(data, source)
    merged = base.to_dict()
    for key, value in data.items():
        if key in ("limits", "overheads") and isinstance(value, dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    merged["target"] = base.name  # a case-insensitive name resolves to the catalog spelling
    return Target.from_dict(merged, source)
