"""Finding a target from whatever the user typed: a path, a ``FAMILY/BOARD`` name, a target name or a fingerprint.

The arch/ library root is, in order: ``$VAI_ARCH_PATH`` if set; the installed package data
``xir.arch_data``; the source tree's ``arch/`` next to the ``xir`` package (editable installs).
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import xir
from xir.target.archfile import ARCH_FILE, read_arch_file
from xir.target.catalog import catalog_targets, natural_key, target_by_fingerprint, target_by_name
from xir.target.errors import TargetError
from xir.target.model import Target

ENV_VAR = "VAI_ARCH_PATH"


def _package_data_root() -> Path | None:
    try:
        files = importlib.resources.files("xir.arch_data")
    except (ModuleNotFoundError, TypeError):
        return None
    return files if isinstance(files, Path) and files.is_dir() else None


def arch_root() -> Path:
    """The arch/ library in use: $VAI_ARCH_PATH, else installed package data, else the source tree."""
    env = os.environ.get(ENV_VAR)
    if env:
        root = Path(env).expanduser()
        if not root.is_dir():
            raise TargetError(
                f"{ENV_VAR}={env} is not a directory; point it at an arch/ library "
                "(FAMILY/BOARD/arch.json) or unset it"
            )
        return root
    root = _package_data_root()
    if root is not None:
        return root
    source_tree = Path(xir.__file__).resolve().parent.parent / "arch"
    if source_tree.is_dir():
        return source_tree
    raise TargetError(
        f"no arch/ library found (no package data xir.arch_data, no {source_tree}); "
        f"reinstall the package or set {ENV_VAR}"
    )


def list_targets(root: Path | None = None) -> list[str]:
    """Every ``FAMILY/BOARD`` of the arch/ library (the one in use unless ``root`` is given), sorted."""
    root = arch_root() if root is None else Path(root)
    found = (
        f"{family.name}/{board.name}"
        for family in root.iterdir()
        if family.is_dir()
        for board in family.iterdir()
        if (board / ARCH_FILE).is_file()
    )
    return sorted(found, key=natural_key)


def _from_path(path: Path) -> Target:
    if path.is_dir():
        file = path / ARCH_FILE
        if not file.is_file():
            raise TargetError(f"directory {path} holds no {ARCH_FILE}; pass the file itself or a FAMILY/BOARD name")
        return read_arch_file(file)
    if path.is_file():
        return read_arch_file(path)
    raise TargetError(f"arch file {path} does not exist; check the path or pass a FAMILY/BOARD name")


def load_target(spec: str | os.PathLike | int | Target) -> Target:
    """Resolve a target from a path (file or directory), ``FAMILY/BOARD``, target name or fingerprint.

    Names are case-insensitive. Unknown names and fingerprints raise TargetError listing what is known.
    """
    if isinstance(spec, Target):
        return spec
    if isinstance(spec, int) and not isinstance(spec, bool):
        return target_by_fingerprint(spec)
    if isinstance(spec, os.PathLike):
        return _from_path(Path(spec))
    if not isinstance(spec, str) or not spec.strip():
        raise TargetError(
            f"target spec must be a path, FAMILY/BOARD, target name or fingerprint, got {spec!r}"
        )
    text = spec.strip()
    path = Path(text).expanduser()
    try:
        exists = path.exists()
    except OSError:                      # not a usable path (e.g. a name longer than the file system takes)
        exists = False
    if exists or text.lower().endswith(".json"):
        return _from_path(path)
    if text[:2].lower() == "0x" or text.isdigit():
        return target_by_fingerprint(text)
    if "/" in text:
        root = arch_root()
        boards = list_targets(root)
        match = {b.upper(): b for b in boards}.get(text.strip("/").upper())
        if match is None:
            raise TargetError(f"unknown target {text!r}; known: {', '.join(boards)}")
        return read_arch_file(root / match / ARCH_FILE)
    try:
        return target_by_name(text)
    except TargetError:
        known = [*list_targets(), *catalog_targets()]
        raise TargetError(f"unknown target {text!r}; known: {', '.join(known)}") from None
