"""The import rule of the layers (README.md, Layout): vaiq, vaic and vairun never import
each other or wego_torch; xir imports none of them; wego_torch is the integration package that may
import all three."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("vaiq", "vaic", "vairun")


def imported_packages(pkg: str) -> set[str]:
    out = set()
    for f in (ROOT / pkg).rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                out |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                out.add(node.module.split(".")[0])
    return out


def test_tools_never_import_each_other_nor_the_integration_package():
    for tool in TOOLS:
        others = set(TOOLS) - {tool}
        assert not imported_packages(tool) & (others | {"wego_torch"}), tool
    assert not imported_packages("xir") & set(TOOLS + ("wego_torch",))


def test_wego_torch_drives_all_three():
    assert set(TOOLS) <= imported_packages("wego_torch")
