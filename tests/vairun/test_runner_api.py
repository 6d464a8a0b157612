"""Runner API (VART names, batch, threads, errors) and the vairun command line."""
import json
import threading

import numpy as np
import pytest
from click.testing import CliRunner

import xir
from vairun import GraphRunner, Runner, VairunError
from vairun.cli import main

from flow import compile_zoo


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return compile_zoo("tiny_resnet", tmp_path_factory.mktemp("m"))


def x_of(batch, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, 32, 32, 3)).astype(np.float32)


def test_vart_dpu_runner_names(compiled):
    g = xir.Graph.deserialize(compiled)
    dpu = [s for s in g.get_root_subgraph().toposort_child_subgraph() if s.get_attr("device") == "DPU"]
    runner = Runner.create_runner(dpu[0], "run")
    tin, tout = runner.get_input_tensors(), runner.get_output_tensors()
    assert tin[0].dims == [1, 32, 32, 3] and isinstance(tin[0].get_attr("fix_point"), int)
    fp = tin[0].get_attr("fix_point")
    xq = np.clip(np.floor(x_of(2) * 2 ** fp + 0.5), -128, 127).astype(np.int8)
    out = [np.empty([2] + tout[0].dims[1:], dtype=np.int8)]
    job = runner.execute_async([xq], out)
    runner.wait(job)
    whole = GraphRunner(compiled).execute([x_of(2)])
    # the DPU subgraph's output feeds the CPU tail; compare where the names coincide
    if tout[0].name in whole:
        assert np.array_equal(out[0], whole[tout[0].name])
    assert out[0].dtype == np.int8 and out[0].shape[0] == 2


def test_batch_is_vectorized_and_equals_single_images(compiled):
    r = GraphRunner(compiled)
    x = x_of(5, seed=3)
    whole = r.run([x])
    for i in range(5):
        one = r.run([x[i:i + 1]])
        for k in whole:
            assert np.array_equal(whole[k][i:i + 1], one[k])


def test_threads_and_async(compiled):
    r = GraphRunner(compiled)
    x = x_of(2, seed=5)
    expect = r.run([x])
    results, errors = [], []

    def work():
        try:
            results.append(r.run([x]))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    for res in results:
        for k in expect:
            assert np.array_equal(res[k], expect[k])
    outs = [np.zeros([2] + t.dims[1:], dtype=np.int8) for t in r.get_output_tensors()]
    jid = r.execute_async([x], outs)
    raw = r.wait(jid)
    assert all(np.array_equal(o, raw[t.name]) for o, t in zip(outs, r.get_output_tensors()))


def test_checksum_and_fingerprint_are_verified(compiled, tmp_path):
    import shutil
    d = tmp_path / "copy"
    shutil.copytree(compiled.parent, d)
    (d / "md5sum.txt").write_text("0" * 32 + "\n")
    with pytest.raises(VairunError, match="checksum mismatch"):
        GraphRunner(d / "tr.xmodel")
    GraphRunner(d / "tr.xmodel", verify=False)  # explicit opt-out
    with pytest.raises(VairunError, match="fingerprint mismatch"):
        GraphRunner(compiled, arch="DPUCADF8H/U250")
    GraphRunner(compiled, arch="DPUCZDX8G/KV260")  # same DPU, same fingerprint


def test_input_errors(compiled):
    r = GraphRunner(compiled)
    with pytest.raises(VairunError, match="expects dims"):
        r.run([np.zeros((1, 16, 16, 3), np.float32)])
    with pytest.raises(VairunError, match="takes 1 input"):
        r.run([x_of(1), x_of(1)])
    with pytest.raises(VairunError, match="unknown input"):
        r.run({"nope": x_of(1)})


def invoke(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    return res.exit_code, res.output


def test_cli_run_profile_info_bench(compiled, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, x_of(2))
    code, out = invoke("run", compiled, "-i", x, "-o", tmp_path / "y.npz")
    assert code == 0, out
    y = np.load(tmp_path / "y.npz")
    assert set(y) == {t.name for t in GraphRunner(compiled).get_output_tensors()}
    code, out = invoke("run", compiled, "-i", x, "-o", tmp_path / "r.npz", "--raw")
    r = np.load(tmp_path / "r.npz")
    name = next(k for k in r if not k.endswith("__fix_point"))
    assert r[name].dtype == np.int8 and int(r[name + "__fix_point"]) == GraphRunner(compiled).get_output_tensors()[0].get_attr("fix_point")
    np.save(tmp_path / "xn.npy", np.transpose(x_of(2), (0, 3, 1, 2)))
    assert invoke("run", compiled, "-i", tmp_path / "xn.npy", "-o", tmp_path / "n.npz", "--nchw")[0] == 0
    assert np.array_equal(np.load(tmp_path / "n.npz")[name], y[name])
    np.save(tmp_path / "x1.npy", np.transpose(x_of(2), (0, 3, 1, 2))[1])         # one NCHW image, no batch dim
    assert invoke("run", compiled, "-i", tmp_path / "x1.npy", "-o", tmp_path / "n1.npz", "--nchw")[0] == 0
    assert np.array_equal(np.load(tmp_path / "n1.npz")[name], y[name][1:])
    np.save(tmp_path / "xb.npy", np.zeros((2, 3, 8, 8), np.float32))
    code, out = invoke("run", compiled, "-i", tmp_path / "xb.npy", "-o", tmp_path / "b.npz", "--nchw")
    assert code == 2 and "shape [2, 3, 8, 8] does not match" in out        # the file's shape, as given
    code, out = invoke("profile", compiled, "--json", tmp_path / "p.json", "--html", tmp_path / "p.html", "-q")
    assert code == 0, out
    p = json.loads((tmp_path / "p.json").read_text())
    assert {"cycles", "latency_ms", "fps"} <= set(p) and p["cycles"] > 0 and p["layers"]
    html = (tmp_path / "p.html").read_text()
    assert "<svg" in html and "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    code, out = invoke("info", compiled)
    assert code == 0 and "fix_point" in out and "DPUCZDX8G" in out
    code, out = invoke("bench", compiled, "--batch", "2", "--warmup", "1", "--repeat", "2", "--json", tmp_path / "b.json")
    assert code == 0, out
    assert "1 warm-up run(s) not timed, 2 timed run(s)" in out
    b = json.loads((tmp_path / "b.json").read_text())
    assert b["batch"] == 2 and b["images_per_s"] > 0 and (b["warmup"], b["repeat"]) == (1, 2)
    assert len(b["times_s"]) == 2 and b["ms_per_image_min"] == min(b["times_s"]) / 2 * 1e3
    code, out = invoke("bench", compiled, "--timing-only", "--repeat", "1")
    assert code == 0 and "timing-only" in out


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"), ("shape", "does not match input"), ("dtype", "dtype int32"),
    ("corrupt", "not an .xmodel"), ("checksum", "checksum mismatch"), ("fingerprint", "fingerprint mismatch"),
    ("noinput", "no such input file"),
])
def test_cli_bad_input_is_one_line_exit_2(case, message, compiled, tmp_path):
    import shutil
    model = compiled
    x = tmp_path / "x.npy"
    np.save(x, x_of(1))
    extra = []
    if case == "missing":
        model = tmp_path / "none.xmodel"
    elif case == "shape":
        np.save(x, np.zeros((1, 8, 8, 3), np.float32))
    elif case == "dtype":
        np.save(x, np.zeros((1, 32, 32, 3), np.int32))
    elif case == "corrupt":
        model = tmp_path / "c.xmodel"
        model.write_bytes(compiled.read_bytes()[:100])
    elif case == "checksum":
        d = tmp_path / "d"
        shutil.copytree(compiled.parent, d)
        model = d / "tr.xmodel"
        model.write_bytes(model.read_bytes() + b"\x00")
    elif case == "fingerprint":
        extra = ["--arch", "DPUCAHX8H/U50"]
    elif case == "noinput":
        x = tmp_path / "none.npy"
    code, out = invoke("run", model, "-i", x, "-o", tmp_path / "o.npz", *extra)
    assert code == 2, out
    assert message in out and "Traceback" not in out and len(out.strip().splitlines()) == 1
    assert not (tmp_path / "o.npz").exists()


def test_cli_run_in_chunks_equals_one_call(compiled, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, x_of(5, seed=9))
    assert invoke("run", compiled, "-i", x, "-o", tmp_path / "a.npz")[0] == 0
    assert invoke("run", compiled, "-i", x, "-o", tmp_path / "b.npz", "--chunk", "2")[0] == 0
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


def _vart_style_app(vart, xir_mod, model_path, images, threads=2):
    """A classification app written the way VART's Python samples are: DPU subgraphs by their device
    attribute, one runner per thread, int8 buffers sized from the tensors, inputs scaled by 2**fix."""
    graph = xir_mod.Graph.deserialize(model_path)
    root = graph.get_root_subgraph()
    assert not root.is_leaf
    subgraphs = [s for s in root.toposort_child_subgraph()
                 if s.has_attr("device") and s.get_attr("device").upper() == "DPU"]
    runners = [vart.Runner.create_runner(subgraphs[0], "run") for _ in range(threads)]
    results = [None] * len(images)

    def work(k):
        r = runners[k]
        tin, tout = r.get_input_tensors()[0], r.get_output_tensors()[0]
        in_dims, out_dims = tuple(tin.dims), tuple(tout.dims)
        scale = 2 ** tin.get_attr("fix_point")
        per_image = tout.get_data_size() // out_dims[0]
        for i in range(k, len(images), threads):
            buf_in = [np.empty(in_dims, dtype=np.int8, order="C")]
            buf_out = [np.empty(out_dims, dtype=np.int8, order="C")]
            buf_in[0][0] = np.clip(np.floor(images[i] * scale + 0.5), -128, 127)
            job = r.execute_async(buf_in, buf_out)
            r.wait(job)
            results[i] = buf_out[0][0].reshape(per_image).copy()

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return results


def test_vart_style_sample_app_runs_by_changing_the_import(compiled):
    """`import vairun as vart` is all a VART-style app needs; its per-image results equal a batched run."""
    import vairun as vart
    images = x_of(5, seed=11)
    got = _vart_style_app(vart, xir, compiled, images)
    g = xir.Graph.deserialize(compiled)
    dpu = [s for s in g.get_root_subgraph().toposort_child_subgraph() if s.get_attr("device") == "DPU"]
    r = Runner.create_runner(dpu[0], "run")
    tin, tout = r.get_input_tensors()[0], r.get_output_tensors()[0]
    assert tout.ndim == len(tout.dims) and tout.get_element_num() == tout.get_data_size()
    xq = np.clip(np.floor(images * 2 ** tin.get_attr("fix_point") + 0.5), -128, 127).astype(np.int8)
    whole = [np.empty([5] + tout.dims[1:], dtype=np.int8)]
    r.wait(r.execute_async([xq], whole))
    for i in range(5):
        assert np.array_equal(got[i], whole[0][i].reshape(-1))


def test_cli_run_reference_executor_equals_default(compiled, tmp_path, monkeypatch):
    """``vairun run --reference`` executes on the reference executor, with the same outputs."""
    from vairun.emu import reference
    calls = []
    plain = reference.run
    monkeypatch.setattr(reference, "run", lambda *a, **k: calls.append(1) or plain(*a, **k))
    x = tmp_path / "x.npy"
    np.save(x, x_of(3, seed=4))
    assert invoke("run", compiled, "-i", x, "-o", tmp_path / "a.npz")[0] == 0
    assert not calls
    code, out = invoke("run", compiled, "-i", x, "-o", tmp_path / "b.npz", "--reference")
    assert code == 0, out
    assert calls
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
