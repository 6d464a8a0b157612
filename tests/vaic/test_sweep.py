"""``vaic sweep``: rows agree with compiling and profiling each target by hand, sorted by latency,
failures listed per target, the HTML chart, target selection, bad input, and the same rows on Ray."""
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from vaic.cli import main
from vaic.pipeline import compile_graph
from vaic.sweep import choose_targets, library_boards
from vaic.writer import write_outputs
from vairun import GraphRunner
from vairun.profiling import profile_model
from xir.target import load_target, render_arch_json

from flow import zoo_quantizer

CHOSEN = "DPUCZDX8G/KV260,DPUCAHX8H/U50,IPU_PHX/AMD_AIE2_Nx4_Overlay_cfg0"


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    return zoo_quantizer(tmp_path_factory)("tiny_resnet")[1]


@pytest.fixture(scope="module")
def arch_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("arch")
    (d / "b1024.json").write_text(render_arch_json(load_target("DPUCZDX8G/B1024")))
    (d / "broken.json").write_text('{"target": ')
    return d / "b1024.json", d / "broken.json"


def _by_hand(quantized, target, tmp_path):
    res = compile_graph(quantized, target)
    path = write_outputs(res, tmp_path / target.replace("/", "_"), "net")["net.xmodel"]
    return profile_model(GraphRunner(path).model), len(res.dpu_subgraphs)


@pytest.fixture(scope="module")
def swept(quantized, arch_files, tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    res = CliRunner().invoke(main, ["sweep", str(quantized), "--targets", CHOSEN, "--arch", str(arch_files[0]),
                                    "--arch", str(arch_files[1]), "--workers", "2", "--json", str(d / "s.json"),
                                    "--html", str(d / "s.html")])
    assert res.exit_code == 0, res.output
    return json.loads((d / "s.json").read_text()), (d / "s.html").read_text(), res.output


def test_rows_agree_with_compiling_and_profiling_by_hand(swept, quantized, arch_files, tmp_path):
    rows, _, out = swept
    ok = [r for r in rows if "error" not in r]
    assert {r["target"] for r in ok} == {"DPUCZDX8G/KV260", "DPUCAHX8H/U50", str(arch_files[0])}
    assert [r["latency_ms"] for r in ok] == sorted(r["latency_ms"] for r in ok)
    for target in ("DPUCZDX8G/KV260", "DPUCAHX8H/U50"):
        p, dpu = _by_hand(quantized, target, tmp_path)
        row = next(r for r in ok if r["target"] == target)
        assert (row["cycles"], row["dpu_subgraphs"]) == (p.cycles, dpu)
        assert row["latency_ms"] == pytest.approx(p.latency_ms) and row["fps"] == pytest.approx(p.fps)
        assert 0 < row["utilization"] <= 1 and row["ops_per_cycle"] == pytest.approx(2 * p.macs / p.cycles)
    assert "DPUCZDX8G/KV260" in out and "latency" in out


def test_failures_are_listed_per_target_and_the_sweep_goes_on(swept, arch_files):
    rows, html, out = swept
    bad = {r["target"]: r["error"] for r in rows if "error" in r}
    assert set(bad) == {"IPU_PHX/AMD_AIE2_Nx4_Overlay_cfg0", str(arch_files[1])}
    assert "hardware-aware quantization only" in bad["IPU_PHX/AMD_AIE2_Nx4_Overlay_cfg0"]
    assert rows[-2:] == [r for r in rows if "error" in r]          # failures after the ranked rows
    assert "failed IPU_PHX/AMD_AIE2_Nx4_Overlay_cfg0" in out
    assert html.count("<rect") == 3 and "Failures (2)" in html and "<script" not in html


def test_target_selection():
    boards = library_boards()
    assert choose_targets("all") == list(boards) and "IPU_PHX/AMD_AIE2_Nx4_Overlay_cfg0" not in boards
    assert choose_targets("dpucahx8h") == ["DPUCAHX8H/U50", "DPUCAHX8H/U50LV", "DPUCAHX8H/U280"]
    assert choose_targets(None) == list(boards)
    assert choose_targets("DPUCZDX8G/KV260,DPUCZDX8G/kv260") == ["DPUCZDX8G/KV260"]


@pytest.mark.parametrize("args, message", [
    (["--targets", "NOPE"], "unknown target 'NOPE'"),
    (["--arch", "/no/such/arch.json"], "no such arch.json"),
])
def test_bad_input_exit_2_with_one_line(quantized, args, message):
    res = CliRunner().invoke(main, ["sweep", str(quantized), *args])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr


def test_missing_model_exit_2(tmp_path):
    res = CliRunner().invoke(main, ["sweep", str(tmp_path / "none.xmodel"), "--targets", "DPUCZDX8G/KV260"])
    assert res.exit_code == 2 and "no such quantized model" in res.stderr


def test_sweep_on_ray_gives_the_same_rows(ray_cluster, swept, quantized, tmp_path):
    from ray_cluster import ENV
    r = subprocess.run([sys.executable, "-m", "vaic.cli", "sweep", str(quantized), "--targets", CHOSEN,
                        "--ray", ray_cluster, "--json", str(tmp_path / "r.json"), "-q"],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads((tmp_path / "r.json").read_text())
    local = [row for row in swept[0] if not row["target"].endswith(".json")]
    assert got == local
