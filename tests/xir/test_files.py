"""xir.files: user text files fail with one FileError; staged outputs move in all or nothing."""
from __future__ import annotations

import os

import pytest

from xir.errors import FileError
from xir.files import Staging, check_output_location, prepare_directory, read_text, write_atomic


def test_read_text_errors(tmp_path):
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00x")
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(FileError, match="not UTF-8 text"):
        read_text(tmp_path / "bin.json", "arch file")
    with pytest.raises(FileError, match="is a directory, not a arch file|is a directory"):
        read_text(tmp_path / "dir.json", "arch file")
    with pytest.raises(FileError, match="no such arch file"):
        read_text(tmp_path / "nope.json", "arch file")
    (tmp_path / "ok.txt").write_text("héllo")
    assert read_text(tmp_path / "ok.txt") == "héllo"


def test_write_atomic_refuses_directories_and_missing_parents(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(FileError, match="is a directory"):
        write_atomic(tmp_path / "d", b"x")
    with pytest.raises(FileError, match="does not exist"):
        write_atomic(tmp_path / "no" / "f", b"x")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(FileError, match="is not a directory"):
        write_atomic(tmp_path / "file" / "f", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "file"]


def test_prepare_and_check_output_location(tmp_path):
    (tmp_path / "f").write_bytes(b"")
    for bad in (tmp_path / "f", tmp_path / "f" / "sub"):
        with pytest.raises(FileError):
            prepare_directory(bad)
        if bad != tmp_path / "f":
            with pytest.raises(FileError, match="is a file"):
                check_output_location(bad)
    assert prepare_directory(tmp_path / "a" / "b").is_dir()
    check_output_location(tmp_path / "x" / "y")


def _stage(out, files):
    st = Staging(out)
    st.__enter__()
    for name, data in files.items():
        (st.path / name).write_bytes(data)
    return st


def test_staging_commits_all_and_cleans_up(tmp_path):
    out = tmp_path / "out"
    st = _stage(out, {"a": b"1", "b": b"2"})
    assert [p.name for p in st.commit()] == ["a", "b"]
    st.__exit__(None, None, None)
    assert (out / "a").read_bytes() == b"1" and (out / "b").read_bytes() == b"2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]     # no staging folder left


def test_staging_refuses_a_directory_clash_before_moving_anything(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_bytes(b"old")
    (out / "b").mkdir()
    st = _stage(out, {"a": b"new", "b": b"2"})
    with pytest.raises(FileError, match="is a directory where the output file b goes"):
        st.commit()
    st.__exit__(None, None, None)
    assert (out / "a").read_bytes() == b"old" and (out / "b").is_dir()


def test_staging_restores_the_old_files_when_a_move_fails(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_bytes(b"old a")
    (out / "c").write_bytes(b"old c")
    st = _stage(out, {"a": b"new a", "b": b"new b", "c": b"new c"})
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append((str(src), str(dst)))
        if str(dst).endswith(os.sep + "c") and "staging" in str(src) and ".replaced" not in str(src):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(FileError, match="nothing was changed"):
        st.commit()
    monkeypatch.setattr(os, "replace", real)
    st.__exit__(None, None, None)
    assert sorted(p.name for p in out.iterdir()) == ["a", "c"]
    assert (out / "a").read_bytes() == b"old a" and (out / "c").read_bytes() == b"old c"


def test_write_files_atomic_all_or_nothing(tmp_path, monkeypatch):
    from xir.files import write_files_atomic
    a, b = tmp_path / "a.json", tmp_path / "b.html"
    a.write_bytes(b"old a")
    write_files_atomic({a: b"new a", b: b"new b"})
    assert a.read_bytes() == b"new a" and b.read_bytes() == b"new b"
    real = os.replace

    failed = []

    def flaky(src, dst):
        if str(dst) == str(b) and not failed:      # the rename of b's new content fails once
            failed.append(dst)
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(FileError, match="no output file was changed"):
        write_files_atomic({a: b"newer a", b: b"newer b"})
    monkeypatch.setattr(os, "replace", real)
    assert a.read_bytes() == b"new a" and b.read_bytes() == b"new b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.html"]
    with pytest.raises(FileError, match="does not exist"):
        write_files_atomic({a: b"x", tmp_path / "no" / "c": b"y"})
    assert a.read_bytes() == b"new a"
