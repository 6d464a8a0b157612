"""xir.arrays: .npy/.npz headers are checked against the file before any data is allocated."""
from __future__ import annotations

import numpy as np
import pytest

from xir.arrays import npz_keys, open_npy, read_npz_array
from xir.errors import FileError


def _npy(tmp_path, name, a):
    p = tmp_path / name
    np.save(p, a)
    return p


def test_good_arrays_are_memory_mapped(tmp_path):
    p = _npy(tmp_path, "a.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
    a = open_npy(p)
    assert isinstance(a, np.memmap) and a.shape == (3, 4) and float(a[2, 3]) == 11.0
    assert open_npy(_npy(tmp_path, "z.npy", np.zeros((0, 3), np.int8))).shape == (0, 3)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[:-4], "truncated or corrupt"),
    (lambda d: d.replace(b"(3, 4)", b"(281474976710656, 4)"), "truncated or corrupt"),   # ~4 PiB
    (lambda d: b"garbage!" + d[8:], "not a .npy"),
    (lambda d: b"", "not a .npy"),
    (lambda d: d[:20], "not a .npy"),
    (lambda d: d.replace(b"'<f4'", b"'|O'  "), "not a .npy|not numeric"),
])
def test_bad_npy_is_one_file_error(tmp_path, mutate, message):
    good = _npy(tmp_path, "a.npy", np.zeros((3, 4), np.float32)).read_bytes()
    p = tmp_path / "bad.npy"
    p.write_bytes(mutate(good))
    with pytest.raises(FileError, match=message):
        open_npy(p, "input")


def test_non_numeric_and_paths(tmp_path):
    with pytest.raises(FileError, match="not numeric"):
        open_npy(_npy(tmp_path, "s.npy", np.array(["a", "b"])))
    with pytest.raises(FileError, match="no such"):
        open_npy(tmp_path / "none.npy")
    with pytest.raises(FileError, match="is a directory"):
        open_npy(tmp_path)


def test_npz_members_checked(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.ones((2, 3), np.float32), y=np.arange(2))
    assert npz_keys(p) == ["x", "y"]
    assert read_npz_array(p, "y").tolist() == [0, 1]
    with pytest.raises(FileError, match="no array named"):
        read_npz_array(p, "w")
    np.save(tmp_path / "plain.npy", np.ones(2))
    with pytest.raises(FileError, match="not an .npz"):
        npz_keys(tmp_path / "plain.npy")
    # a member whose header claims far more than it stores
    import zipfile
    q = tmp_path / "huge.npz"
    data = (tmp_path / "plain.npy").read_bytes().replace(b"(2,)", b"(4503599627370496,)")
    with zipfile.ZipFile(q, "w") as z:
        z.writestr("x.npy", data)
    with pytest.raises(FileError, match="truncated or corrupt"):
        read_npz_array(q, "x")
