#!/usr/bin/env python3
"""Write the arch/ library (FAMILY/BOARD/arch.json) from the built-in target catalog.

Usage: scripts/gen_arch.py [--check] [--root DIR]
  --check   write nothing; exit 1 and list the files that differ from the catalog (or are stale)
  --root    library directory to write (default: arch/ next to this script's parent)
Files of boards no longer in the catalog are removed (reported by --check), so data and code never drift.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xir.target.archfile import ARCH_FILE, arch_library


def _existing(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.glob(f"*/*/{ARCH_FILE}")}


def main(argv: list[str] | None = None) -> int:
    """Regenerate (or with --check, verify) every arch.json under the library root."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify only; exit 1 on any difference")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent / "arch")
    args = parser.parse_args(argv)
    root: Path = args.root
    wanted = arch_library()
    stale = sorted(_existing(root) - set(wanted)) if root.is_dir() else []
    changed = [
        rel for rel, text in wanted.items()
        if not (root / rel).is_file() or (root / rel).read_text(encoding="utf-8") != text
    ]
    if args.check:
        for rel in changed:
            print(f"differs from the catalog: {root / rel}")
        for rel in stale:
            print(f"not in the catalog: {root / rel}")
        if changed or stale:
            print("run scripts/gen_arch.py to regenerate the arch/ library", file=sys.stderr)
            return 1
        print(f"arch/ library up to date: {len(wanted)} files in {root}")
        return 0
    for rel in changed:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[rel], encoding="utf-8")
    for rel in stale:
        path = root / rel
        path.unlink()
        for parent in (path.parent, path.parent.parent):
            if parent != root and not any(parent.iterdir()):
                parent.rmdir()
    print(f"wrote {len(changed)} and removed {len(stale)} arch.json files under {root} ({len(wanted)} in the library)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
