"""The arch/ library on disk is exactly what scripts/gen_arch.py renders from the catalog."""

import subprocess
import sys
from pathlib import Path

from xir.target import arch_library, catalog_boards

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gen_arch.py"


def test_files_on_disk_equal_the_rendered_catalog():
    wanted = arch_library()
    on_disk = {p.relative_to(REPO / "arch").as_posix() for p in (REPO / "arch").glob("*/*/arch.json")}
    assert on_disk == set(wanted)
    for rel, text in wanted.items():
        assert (REPO / "arch" / rel).read_text(encoding="utf-8") == text, rel


def test_library_has_one_file_per_board_and_short_form_keys_first():
    wanted = arch_library()
    assert len(wanted) == len(catalog_boards())
    for text in wanted.values():
        assert text.startswith('{\n  "target": "') and '\n  "fingerprint": "0x' in text


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def test_script_check_passes_on_the_repository():
    result = _run("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_script_writes_checks_and_removes_stale_files(tmp_path):
    assert _run("--check", "--root", str(tmp_path)).returncode == 1
    assert _run("--root", str(tmp_path)).returncode == 0
    assert _run("--check", "--root", str(tmp_path)).returncode == 0
    kv260 = tmp_path / "DPUCZDX8G" / "KV260" / "arch.json"
    kv260.write_text('{"target": "DPUCZDX8G_ISA1_B4096"}\n')
    stale = tmp_path / "DPUCZDX8G" / "OldBoard" / "arch.json"
    stale.parent.mkdir()
    stale.write_text("{}\n")
    result = _run("--check", "--root", str(tmp_path))
    assert result.returncode == 1
    assert f"differs from the catalog: {kv260}" in result.stdout
    assert f"not in the catalog: {stale}" in result.stdout
    assert _run("--root", str(tmp_path)).returncode == 0
    assert not stale.parent.exists()
    assert kv260.read_text() == arch_library()["DPUCZDX8G/KV260/arch.json"]
