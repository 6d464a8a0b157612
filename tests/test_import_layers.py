"""The layer rules, checked over the import statements of every module: xir imports none of the tools,
the tools (vaiq, vaic, vairun) never import each other, and only the integration packages import more
than one tool. Tests and scripts are not checked (they may drive everything)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("vaiq", "vaic", "vairun")
INTEGRATION = ("wego_torch", "vai_tvm")


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def _package_imports(pkg: str) -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): _imports(p) for p in sorted((ROOT / pkg).rglob("*.py"))}


@pytest.mark.parametrize("pkg", ("xir",) + TOOLS)
def test_layers(pkg):
    allowed = set() if pkg == "xir" else {pkg}
    bad = {f: sorted(i & (set(TOOLS) | set(INTEGRATION)) - allowed) for f, i in _package_imports(pkg).items()}
    bad = {f: b for f, b in bad.items() if b}
    assert not bad, f"{pkg} may import only xir{'' if pkg == 'xir' else ' and itself'}: {bad}"


def test_integration_packages_import_no_other_integration_package():
    for pkg in INTEGRATION:
        if not (ROOT / pkg).is_dir():
            continue
        others = set(INTEGRATION) - {pkg}
        bad = {f: sorted(i & others) for f, i in _package_imports(pkg).items() if i & others}
        assert not bad, bad


def test_the_checker_sees_a_violation(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import vaic.pipeline\nfrom vairun import GraphRunner\nfrom . import x\n")
    assert _imports(f) == {"vaic", "vairun"}
