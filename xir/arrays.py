""".npy / .npz files users hand to the tools: checked before any byte of data is allocated.

Rules:
- the header is read and checked against the file first: a numeric dtype (bool, integer or float; no
  objects, strings or structured records), a shape whose byte count equals what the file holds (a
  truncated file or a header that claims more, e.g. a petabyte, is refused without allocating it);
- a ``.npy`` is returned memory-mapped (read-only), so a large data set costs no RAM until read;
- an ``.npz`` member is checked the same way against its size inside the archive before it is loaded;
- every problem is a :class:`~xir.errors.FileError` naming the file and what is wrong.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

from .errors import FileError

NUMERIC_KINDS = "biuf"


def _header(f, path, what):
    """(shape, fortran_order, dtype) of the array whose header starts at ``f``'s position."""
    try:
        version = npformat.read_magic(f)
        if version == (1, 0):
            return npformat.read_array_header_1_0(f)
        if version in ((2, 0), (3, 0)):
            return npformat.read_array_header_2_0(f)
        raise ValueError(f"format version {version}")
    except (ValueError, OSError, EOFError, SyntaxError) as e:
        raise FileError(f"{path}: not a .npy {what} ({str(e).splitlines()[0][:120]}); save it with numpy.save") from None


def _check(path, what, shape, dtype, have_bytes: int) -> None:
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.hasobject:
        raise FileError(f"{path}: dtype {dtype} is not numeric; the {what} must hold numbers (float, int or uint8)")
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if need != have_bytes:
        raise FileError(f"{path}: the header says shape {tuple(shape)} of {dtype} ({need:,} bytes) but the file holds "
                        f"{have_bytes:,} bytes of data; the file is truncated or corrupt")


def open_npy(path, what: str = "array") -> np.ndarray:
    """A validated, read-only memory map of the array in the ``.npy`` file ``path``."""
    p = Path(path)
    size = _openable(p, what)
    with open(p, "rb") as f:
        shape, fortran, dtype = _header(f, p, what)
        offset = f.tell()
    _check(p, what, shape, dtype, size - offset)
    if int(np.prod(shape, dtype=object)) == 0:
        return np.zeros(shape, dtype=dtype)
    try:
        return np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise FileError(f"{p}: cannot read the {what}: {e}") from None


def _openable(p: Path, what: str) -> int:
    """The file's size; FileError when it is missing, a directory or unreadable."""
    if not p.exists():
        raise FileError(f"{p}: no such {what} file; check the path")
    if p.is_dir():
        raise FileError(f"{p}: is a directory, not a .npy {what}")
    try:
        with open(p, "rb"):
            pass
        return p.stat().st_size
    except OSError as e:
        raise FileError(f"{p}: cannot read the {what}: {e.strerror or e}") from None


def npz_keys(path, what: str = "archive") -> list[str]:
    """The array names in an ``.npz`` (members ``<name>.npy``)."""
    p = Path(path)
    _openable(p, what)
    try:
        with zipfile.ZipFile(p) as z:
            return [n[:-4] for n in z.namelist() if n.endswith(".npy")]
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise FileError(f"{p}: not an .npz {what} ({e}); save it with numpy.savez") from None


def read_npz_array(path, key: str, what: str = "archive") -> np.ndarray:
    """The array ``key`` of an ``.npz``, its header checked against its stored size before loading."""
    p = Path(path)
    _openable(p, what)
    try:
        with zipfile.ZipFile(p) as z:
            info = z.getinfo(f"{key}.npy")
            with z.open(info) as f:
                shape, fortran, dtype = _header(f, f"{p}[{key}]", what)
                offset = f.tell() if f.seekable() else None
            if offset is None:                      # pragma: no cover - zip members are seekable since 3.7
                raise FileError(f"{p}: cannot read member {key}")
            _check(f"{p}[{key}]", what, shape, dtype, info.file_size - offset)
            with z.open(info) as f:
                return npformat.read_array(f, allow_pickle=False)
    except FileError:
        raise
    except KeyError:
        raise FileError(f"{p}: holds no array named {key!r}") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise FileError(f"{p}: not an .npz {what} ({str(e).splitlines()[0][:120]}); save it with numpy.savez") from None
