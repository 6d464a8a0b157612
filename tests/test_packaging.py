"""Every Python package of the project is listed in pyproject.toml, so a plain ``pip install .`` (not
editable) ships it: the explicit list is needed for the ``xir.arch_data`` mapping, and a package missing
from it only shows up outside the source tree."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = ("xir", "vaiq", "vaic", "vairun", "wego_torch", "vai_tvm")


def _listed() -> set[str]:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(conf["packages"])


def test_every_package_is_listed_in_pyproject():
    found = set()
    for top in TOP:
        for init in (ROOT / top).rglob("__init__.py") if (ROOT / top).is_dir() else ():
            found.add(".".join(init.parent.relative_to(ROOT).parts))
    missing = sorted(found - _listed())
    assert not missing, f"packages missing from pyproject.toml [tool.setuptools] packages: {missing}"


def test_listed_packages_exist():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = conf.get("package-dir", {})
    for pkg in _listed():
        folder = ROOT / dirs.get(pkg, pkg.replace(".", "/"))
        assert (folder / "__init__.py").is_file(), f"{pkg} is listed but {folder} has no __init__.py"
