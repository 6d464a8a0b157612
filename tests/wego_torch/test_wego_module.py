"""The compiled module's behaviour: torch.compile backend, compile cache, summary, threads,
no_grad / inference_mode, lazy compile on the first call, save/load in a fresh process."""
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

import wego_torch

from wego_models import compile_opts, inputs

SHAPE = (1, 3, 16, 16)
ROOT = Path(__file__).resolve().parents[2]


def test_torch_compile_backend_any_batch(two_regions, cache_dir):
    model, folder, q = two_regions
    torch._dynamo.reset()
    f = torch.compile(model, backend="vitis_ai",
                      options={"quantize_result_path": str(folder), "cache_dir": str(cache_dir), "verbose": False})
    for b in (1, 4, 2):          # the second batch size makes dynamo recompile with a symbolic batch
        x = inputs(SHAPE, b, seed=b)
        with torch.no_grad():
            want, got = q.quant_model(x), f(x)
        assert int((got != want).sum()) == 0
    torch._dynamo.reset()


def test_torch_compile_backend_bad_options(two_regions):
    model, folder, _ = two_regions
    torch._dynamo.reset()
    f = torch.compile(model, backend="vitis_ai", options={"quantize_result_path": str(folder), "colour": 1})
    with pytest.raises(Exception, match="unknown option"):
        f(inputs(SHAPE, 1))
    torch._dynamo.reset()


def test_second_compile_hits_the_cache(two_regions, tmp_path):
    model, folder, q = two_regions
    opts = compile_opts(folder, tmp_path / "cache", inputs_meta=[wego_torch.InputMeta(torch.float, list(SHAPE))])
    first = wego_torch.compile(model, opts).summary()
    second_mod = wego_torch.compile(model, opts)
    second = second_mod.summary()
    assert first["cache"]["hit"] is False and second["cache"]["hit"] is True
    assert "deploy graph (vaiq)" in first["seconds"] and "deploy graph (vaiq)" not in second["seconds"]
    assert first["cache"]["key"] == second["cache"]["key"]
    assert first["dpu_subgraphs"] == second["dpu_subgraphs"]
    # a damaged entry is compiled again, with the same result
    entry = Path(second["cache"]["path"])
    (entry / "wego.xmodel").write_bytes(b"broken")
    third = wego_torch.compile(model, opts)
    assert third.summary()["cache"]["hit"] is False
    x = inputs(SHAPE, 2)
    assert torch.equal(third(x), q.quant_model(x))


def test_summary_printed_and_returned(two_regions, cache_dir, capsys):
    model, folder, _ = two_regions
    opts = compile_opts(folder, cache_dir, inputs_meta=[wego_torch.InputMeta(torch.float, list(SHAPE))],
                        partition_options=wego_torch.PartitionOptions(extra_accel_op_list=["gelu"]))
    opts.verbose = True
    wm = wego_torch.compile(model, opts)
    out = capsys.readouterr().out
    s = wm.summary()
    for d in s["dpu_subgraphs"]:
        assert d["name"] in out
    for d in s["cpu_ops"]:
        assert d["code"] in out
    assert "extra_accel_op_list: gelu" in out and s["extra_accel_not_accelerated"] == ["gelu"]
    assert "capture + quantization result (vaiq)" in s["seconds"]
    assert {"deploy graph (vaiq)", "compile (vaic)"} <= set(s["seconds"]) or "compiled model from the cache" in s["seconds"]
    assert s["target"] == wego_torch.get_target_info()["target"]
    json.dumps(s)   # plain data


def test_compiles_on_first_call_then_any_batch(two_regions, cache_dir):
    model, folder, q = two_regions
    wm = wego_torch.compile(model, compile_opts(folder, cache_dir))
    assert not wm.compiled
    with pytest.raises(wego_torch.WegoError, match="not compiled yet"):
        wm.summary()
    for b in (3, 1):
        x = inputs(SHAPE, b, seed=20 + b)
        assert torch.equal(wm(x), q.quant_model(x))


def test_min_ops_moves_small_dpu_subgraphs_to_torch(two_regions, cache_dir):
    model, folder, q = two_regions
    big = wego_torch.compile(model, compile_opts(
        folder, cache_dir, partition_options=wego_torch.PartitionOptions(wego_subgraph_min_ops_number=1000)))
    x = inputs(SHAPE, 2)
    assert torch.equal(big(x), q.quant_model(x))
    s = big.summary()
    assert s["dpu_subgraphs"] == [] and s["dpu_subgraphs_run_in_torch"]
    assert any(d["code"] == "DPU_SUBGRAPH_NOT_USED" for d in s["cpu_ops"])


def test_threads_no_grad_inference_mode(two_regions, cache_dir):
    model, folder, q = two_regions
    wm = wego_torch.compile(model, compile_opts(folder, cache_dir))
    xs = [inputs(SHAPE, 1 + k % 3, seed=100 + k) for k in range(8)]
    want = [q.quant_model(x) for x in xs]
    got = [None] * len(xs)
    errors = []

    def work(k):
        try:
            got[k] = wm(xs[k])
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(torch.equal(a, b) for a, b in zip(got, want))
    x = inputs(SHAPE, 2).requires_grad_()
    with torch.inference_mode():
        y1 = wm(x)
    with torch.no_grad():
        y2 = wm(x)
    y3 = wm(x)
    assert not y3.requires_grad
    assert torch.equal(y1, y2) and torch.equal(y2, y3)


def test_save_then_load_in_a_fresh_process(two_regions, cache_dir, tmp_path):
    model, folder, q = two_regions
    wm = wego_torch.compile(model, compile_opts(folder, cache_dir))
    x = inputs(SHAPE, 3, seed=5)
    want = wm(x)
    assert torch.equal(want, q.quant_model(x))
    path = tmp_path / "model.wego"
    wm.save(path)
    torch.save({"x": x, "want": want}, tmp_path / "io.pt")
    code = (f"import torch, wego_torch\n"
            f"m = wego_torch.load({str(path)!r})\n"
            f"d = torch.load({str(tmp_path / 'io.pt')!r}, weights_only=True)\n"
            f"y = m(d['x'])\n"
            f"assert torch.equal(y, d['want']), int((y != d['want']).sum())\n"
            f"assert m.summary()['dpu_subgraphs']\n"
            f"print('same', tuple(y.shape), m.summary()['cache']['hit'])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["same", "(3,", "5)", "True"]
