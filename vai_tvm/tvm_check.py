"""Apache TVM is an optional extra: import it through here.

Rule: the flow runs on the TVM releases it was tested with (``SUPPORTED``, pinned by the ``[tvm]`` extra in
pyproject.toml); a missing TVM, or another release (Relax's Python API changes between minor releases), is
one ``VaiTvmError`` line naming the extra to install.
"""
from __future__ import annotations

from .errors import VaiTvmError

#: the apache-tvm releases the flow is tested with (the ``[tvm]`` extra pins the first)
SUPPORTED = ("0.27.0.post1", "0.27.0")
INSTALL = "pip install 'vitis-ai-py[tvm]' (or pip install '.[tvm]' in a checkout)"


def require_tvm():
    """The ``tvm`` package, checked to be a supported release."""
    try:
        import tvm
    except ImportError as e:
        raise VaiTvmError(f"Apache TVM is not installed ({e}); install the extra: {INSTALL}") from None
    check_version(getattr(tvm, "__version__", "unknown"))
    return tvm


def check_version(version: str) -> None:
    if version not in SUPPORTED:
        raise VaiTvmError(f"apache-tvm {version} is not a supported release (tested: {', '.join(SUPPORTED)}); "
                          f"install the extra: {INSTALL}")
