"""Reading the files users hand us and writing the files we hand back (one home for both tools' rules).

Rules:
- a text input (arch.json, md5sum.txt, quant_info.json, a config file) is read with :func:`read_text`:
  a missing file, a directory, a file that is not UTF-8 text or one the system refuses to read is a
  :class:`~xir.errors.FileError` naming the file and what to do, never an OSError or UnicodeDecodeError;
- one output file is written with :func:`write_atomic` (a temporary file beside it, then a rename), so a
  reader sees the old file or the new one, never a part;
- a set of output files that belong together (a compiled model and its md5sum.txt, a quantizer's exports)
  is written into a :class:`Staging` folder beside the destination and moved in by ``commit()``, all or
  nothing: every destination is checked before the first move, files it replaces are kept aside until the
  last move succeeded, and any failure puts the folder back as it was;
- every failure to create, write or move is a FileError naming the path, never a traceback.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .errors import FileError


def _why(e: OSError) -> str:
    return e.strerror or str(e)


def read_bytes(path, what: str = "file") -> bytes:
    """The bytes of a user-supplied file; FileError (naming ``what``) when it cannot be read."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise FileError(f"{p}: no such {what}; check the path") from None
    except IsADirectoryError:
        raise FileError(f"{p}: is a directory, not a {what}") from None
    except OSError as e:
        raise FileError(f"{p}: cannot read the {what}: {_why(e)}") from None


def read_text(path, what: str = "file") -> str:
    """The UTF-8 text of a user-supplied file; FileError (naming ``what``) when it cannot be read or is
    not UTF-8 text."""
    data = read_bytes(path, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FileError(f"{path}: the {what} is not UTF-8 text (byte {e.start} is 0x{data[e.start]:02x}); "
                        "is it the right file?") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _directory_for(path: Path) -> Path:
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.exists():
        raise FileError(f"{path}: directory {directory} does not exist; create it first")
    if not directory.is_dir():
        raise FileError(f"{path}: {directory} is not a directory")
    return directory


def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename; the
    file gets the permissions a plain ``open(path, "w")`` would give (0666 less the umask)."""
    path = Path(path)
    directory = _directory_for(path)
    if path.is_dir():
        raise FileError(f"{path}: is a directory; give a file name")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise FileError(f"{path}: cannot write: {_why(e)}") from None
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


def prepare_directory(out_dir) -> Path:
    """``out_dir`` as a directory that exists (created with its parents); FileError when a file is in
    the way or the location cannot hold one."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise FileError(f"{out}: exists and is not a directory (or a file is in its path); choose another "
                        "output directory") from None
    except NotADirectoryError:
        raise FileError(f"{out}: a file is in the way of this path; choose another output directory") from None
    except OSError as e:
        raise FileError(f"{out}: cannot create the output directory: {_why(e)}") from None
    if not out.is_dir():
        raise FileError(f"{out}: exists and is not a directory; choose another output directory")
    return out


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif os.path.lexists(p):
        p.unlink()


class Staging:
    """A temporary folder beside ``out_dir`` (same file system) whose entries ``commit()`` moves into
    ``out_dir`` all or nothing. Use as a context manager; the folder is removed on exit either way.

    ``replace_dirs``: whether a staged file may replace a directory of the same name in ``out_dir``
    (False: such a clash is refused before anything moves, naming the directory)."""

    def __init__(self, out_dir, replace_dirs: bool = False):
        self.out = Path(out_dir)
        self.replace_dirs = replace_dirs
        self.path: Path | None = None

    def __enter__(self) -> "Staging":
        if os.path.lexists(self.out) and not self.out.is_dir():
            raise FileError(f"{self.out}: exists and is not a directory; choose another output directory")
        parent = self.out.absolute().parent
        prepare_directory(parent)
        try:
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.out.name[:100]}.staging-", dir=parent))
        except OSError as e:
            raise FileError(f"{self.out}: cannot write beside it in {parent}: {_why(e)}") from None
        return self

    def __exit__(self, *exc) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)

    def commit(self) -> list[Path]:
        """Move every staged entry into ``out_dir``; returns the destinations in name order."""
        assert self.path is not None, "commit() inside the with block"
        entries = sorted(p for p in self.path.iterdir() if p.name != ".replaced")
        for e in entries:
            dest = self.out / e.name
            if dest.is_dir() and not dest.is_symlink() and not (e.is_dir() or self.replace_dirs):
                raise FileError(f"{dest}: is a directory where the output file {e.name} goes; remove or "
                                "rename it")
        prepare_directory(self.out)
        aside = self.path / ".replaced"
        moved: list[Path] = []
        kept: list[tuple[Path, Path]] = []
        try:
            aside.mkdir()
            for e in entries:
                dest = self.out / e.name
                if os.path.lexists(dest):
                    keep = aside / e.name
                    os.replace(dest, keep)
                    kept.append((keep, dest))
                os.replace(e, dest)
                moved.append(dest)
        except OSError as err:
            for dest in moved:
                _remove(dest)
            for keep, dest in kept:
                os.replace(keep, dest)
            raise FileError(f"{self.out}: cannot move the outputs in ({_why(err)}); nothing was changed") from None
        return moved


def check_output_location(out_dir) -> Path:
    """Before long work: refuse an output directory that cannot be made (a file in its path, or a
    nearest existing folder we may not write to). Writing may still fail later; that is a FileError too."""
    out = Path(out_dir)
    probe = out.absolute()
    while not os.path.lexists(probe):
        probe = probe.parent
    if not probe.is_dir():
        raise FileError(f"{out}: {probe} is a file, not a directory; choose another output directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise FileError(f"{out}: cannot write in {probe} (permission denied); choose another output directory")
    return out


def check_output_files(*paths) -> None:
    """Before long work: each output file (None skipped) must go into an existing directory we may write,
    and not be a directory itself."""
    for p in paths:
        if p is None:
            continue
        p = Path(p)
        if p.is_dir():
            raise FileError(f"{p}: is a directory; give a file name")
        _directory_for(p)
        directory = p.parent if str(p.parent) else Path(".")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise FileError(f"{p}: cannot write in {directory} (permission denied)")


def write_files_atomic(files: dict) -> None:
    """Write several files (path -> bytes) all or nothing: every one is written to a temporary file
    beside it first, then all are renamed; a failure removes the temporaries and puts back any file a
    rename had already replaced."""
    check_output_files(*files)
    temps: list[tuple[Path, str]] = []
    done: list[tuple[Path, str | None]] = []
    try:
        for path, data in files.items():
            path = Path(path)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=_directory_for(path))
            temps.append((path, tmp))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
        for path, tmp in temps:
            keep = None
            if os.path.lexists(path):
                keep = tmp + ".old"
                os.replace(path, keep)
            done.append((path, keep))
            os.replace(tmp, path)
    except OSError as e:
        for path, keep in reversed(done):
            if os.path.lexists(path):
                os.unlink(path)
            if keep is not None:
                os.replace(keep, path)
        names = ", ".join(str(p) for p in files)
        raise FileError(f"{names}: cannot write: {_why(e)}; no output file was changed") from None
    finally:
        for _, tmp in temps:
            for t in (tmp, tmp + ".old"):
                if os.path.lexists(t):
                    os.unlink(t)
