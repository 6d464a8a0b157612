"""xir, vaic and vairun stay torch-free at import time (README.md, Layout): every module of each package is
imported in a fresh interpreter and torch must not appear in sys.modules."""
import subprocess
import sys

CHECK = r"""
import importlib, pkgutil, sys
mods = []
for pkg_name in ("xir", "vaic", "vairun"):
    pkg = importlib.import_module(pkg_name)
    mods.append(pkg_name)
    for info in pkgutil.walk_packages(pkg.__path__, pkg_name + "."):
        if "torch_" in info.name or info.name.endswith("wego"):
            continue  # the designated torch-integration modules may import torch
        importlib.import_module(info.name)
        mods.append(info.name)
heavy = sorted(m for m in ("torch", "onnx", "onnxruntime") if m in sys.modules)
print(len(mods), heavy)
assert not heavy, f"imported at import time: {heavy}"
"""


def test_xir_vaic_vairun_do_not_import_torch():
    r = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    count = int(r.stdout.split()[0])
    assert count >= 10  # the walk really imported the packages' modules
