"""load_target and list_targets: every spec form, every file form, and one-line errors for bad input."""

import importlib.resources
import json
from pathlib import Path

import pytest

import xir
from xir.target import loader
from xir.target import (
    ENV_VAR,
    Target,
    TargetError,
    arch_root,
    catalog_boards,
    catalog_targets,
    list_targets,
    load_target,
    render_arch_json,
)

BOARDS = catalog_boards()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def _write(tmp_path, data, name="arch.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _error(spec) -> str:
    with pytest.raises(TargetError) as err:
        load_target(spec)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_library_lists_every_catalog_board():
    assert list_targets() == list(BOARDS)
    assert list_targets()[:3] == ["DPUCADF8H/U200", "DPUCADF8H/U250", "DPUCADX8G/U200"]


@pytest.mark.parametrize("key", list(BOARDS))
def test_each_arch_json_loads_and_equals_the_catalog(key):
    path = arch_root() / key / "arch.json"
    assert load_target(path) == BOARDS[key]
    assert load_target(str(path.parent)) == BOARDS[key]
    assert load_target(key.lower()) == BOARDS[key]


def test_names_fingerprints_and_targets_resolve():
    b4096 = catalog_targets()["DPUCZDX8G_ISA1_B4096"]
    assert load_target("DPUCZDX8G_ISA1_B4096") == b4096
    assert load_target(" dpuczdx8g_isa1_b4096 ") == b4096
    assert load_target("0x101000056010407") == b4096
    assert load_target(0x101000056010407) == b4096
    assert load_target(b4096) is b4096
    assert load_target("0x101000016010407").limits.save_argmax is False


def test_short_form_by_target_name(tmp_path):
    t = load_target(_write(tmp_path, {"target": "DPUCADF8H_ISA0"}))
    assert t == catalog_targets()["DPUCADF8H_ISA0"] and t.board is None


def test_short_form_by_fingerprint(tmp_path):
    t = load_target(_write(tmp_path, {"fingerprint": "0x101000056010407"}))
    assert t == catalog_targets()["DPUCZDX8G_ISA1_B4096"]


def test_extended_form_overrides_the_catalog_entry_of_its_board(tmp_path):
    data = {"target": "DPUCZDX8G_ISA1_B4096", "board": "ZCU102", "clock_mhz": 250,
            "limits": {"conv_stride_max": 4}, "overheads": {"ddr_latency": 200}}
    t = load_target(_write(tmp_path, data))
    zcu102 = BOARDS["DPUCZDX8G/ZCU102"]
    assert (t.cores, t.clock_mhz, t.limits.conv_stride_max, t.overheads.ddr_latency) == (3, 250.0, 4, 200)
    assert t.limits.conv_kernel_max == zcu102.limits.conv_kernel_max
    assert t.overheads.load == zcu102.overheads.load


def test_extended_form_with_an_unknown_board_keeps_the_target_defaults(tmp_path):
    t = load_target(_write(tmp_path, {"fingerprint": "0x101000056010407", "board": "MyBoard", "cores": 2,
                                      "core_batches": [1, 1]}))
    assert (t.board, t.cores, t.key) == ("MyBoard", 2, "DPUCZDX8G/MyBoard")


def test_generated_text_loads_back_identically(tmp_path):
    board = BOARDS["DPUCAHX8H/U280"]
    assert load_target(_write(tmp_path, render_arch_json(board))) == board


def test_unknown_family_board_lists_known_ones():
    message = _error("DPUCZDX8G/ZCU999")
    assert message.startswith("unknown target 'DPUCZDX8G/ZCU999'; known: DPUCADF8H/U200, DPUCADF8H/U250, ")


def test_unknown_bare_name_lists_boards_and_target_names():
    message = _error("ZCU999")
    assert message.startswith("unknown target 'ZCU999'; known: DPUCADF8H/U200")
    assert "DPUCZDX8G_ISA1_B4096" in message


def test_fingerprint_not_in_catalog_names_the_file_and_known_fingerprints(tmp_path):
    path = _write(tmp_path, {"fingerprint": "0x101000016010406"})
    message = _error(path)
    assert message.startswith(f"{path}: fingerprint 0x101000016010406 is not in the target catalog; known: ")
    assert "DPUCZDX8G_ISA1_B4096 (0x101000056010407)" in message


def test_malformed_json_names_file_line_and_column(tmp_path):
    path = _write(tmp_path, '{\n  "target": "DPUCZDX8G_ISA1_B4096",\n}\n')
    assert _error(path).startswith(f"malformed JSON in {path} at line 3 column 1: ")


def test_unknown_key(tmp_path):
    path = _write(tmp_path, {"target": "DPUCZDX8G_ISA1_B4096", "frequency": 300})
    assert _error(path).startswith(f"invalid target description in {path}: unknown key 'frequency' (known: target, ")


def test_unknown_nested_key(tmp_path):
    path = _write(tmp_path, {"target": "DPUCZDX8G_ISA1_B4096", "limits": {"conv_kernel": 3}})
    assert f"invalid target description in {path}: unknown key 'limits.conv_kernel'" in _error(path)


@pytest.mark.parametrize("key, value, expect", [
    ("pp", "8", "key 'pp' must be an integer, got '8'"),
    ("cores", True, "key 'cores' must be an integer, got True"),
    ("clock_mhz", "fast", "key 'clock_mhz' must be a number, got 'fast'"),
    ("compilable", 1, "key 'compilable' must be true or false, got 1"),
    ("limits", [], "key 'limits' must be an object"),
    ("banks", {}, "key 'banks' must be a list of objects"),
    ("target", 5, "key 'target' must be a string"),
    ("fingerprint", [1], "key 'fingerprint' must be a hex string"),
])
def test_wrong_types_name_the_key(tmp_path, key, value, expect):
    data = {"target": "DPUCZDX8G_ISA1_B4096", key: value}
    path = _write(tmp_path, data)
    message = _error(path)
    assert str(path) in message and expect in message


def test_impossible_value_names_the_key(tmp_path):
    path = _write(tmp_path, {"target": "DPUCZDX8G_ISA1_B4096", "cores": 0})
    assert "key 'cores' must be an integer >= 1, got 0" in _error(path)


def test_target_and_fingerprint_must_agree(tmp_path):
    path = _write(tmp_path, {"target": "DPUCZDX8G_ISA1_B4096", "fingerprint": "0x101000056010200"})
    assert "is inconsistent: target DPUCZDX8G_ISA1_B4096 has fingerprint 0x101000056010407" in _error(path)


@pytest.mark.parametrize("text, expect", [
    ("{}", "names no target"),
    ("[1, 2]", "must hold a JSON object"),
])
def test_files_without_a_target(tmp_path, text, expect):
    assert expect in _error(_write(tmp_path, text))


def test_missing_paths_and_empty_directories(tmp_path):
    assert "does not exist" in _error(tmp_path / "nope" / "arch.json")
    assert "holds no arch.json" in _error(tmp_path)
    assert "target spec must be" in _error("  ")


def test_vai_arch_path_is_honoured(tmp_path, monkeypatch):
    custom = tmp_path / "lib"
    (custom / "DPUCZDX8G" / "MyBoard").mkdir(parents=True)
    (custom / "DPUCZDX8G" / "MyBoard" / "arch.json").write_text(
        json.dumps({"target": "DPUCZDX8G_ISA1_B1024", "board": "MyBoard", "clock_mhz": 200})
    )
    monkeypatch.setenv(ENV_VAR, str(custom))
    assert arch_root() == custom
    assert list_targets() == ["DPUCZDX8G/MyBoard"]
    t = load_target("dpuczdx8g/myboard")
    assert (t.name, t.board, t.clock_mhz) == ("DPUCZDX8G_ISA1_B1024", "MyBoard", 200.0)
    assert _error("DPUCZDX8G/KV260") == "unknown target 'DPUCZDX8G/KV260'; known: DPUCZDX8G/MyBoard"


def test_vai_arch_path_must_be_a_directory(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(TargetError, match=f"{ENV_VAR}=.* is not a directory"):
        arch_root()


def test_default_root_is_the_installed_package_data():
    root = arch_root()
    assert root == Path(str(importlib.resources.files("xir.arch_data")))
    assert (root / "DPUCZDX8G" / "KV260" / "arch.json").is_file()


def test_source_tree_is_the_last_resort(monkeypatch):
    monkeypatch.setattr(loader, "_package_data_root", lambda: None)
    assert arch_root() == Path(xir.__file__).resolve().parent.parent / "arch"
    assert "DPUCZDX8G/KV260" in list_targets()


def test_a_description_written_before_the_job_overhead_existed_loads_with_job_0():
    """Compiled models record their target's full description; those written before
    ``overheads.job`` existed load with the job cost they were timed with then (none)."""
    d = load_target("DPUCZDX8G/KV260").to_dict()
    del d["overheads"]["job"]
    t = Target.from_dict(d, "old.xmodel")
    assert t.overheads.job == 0 and t.overheads.load == load_target("DPUCZDX8G/KV260").overheads.load
