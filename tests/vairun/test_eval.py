"""``vairun eval`` on the local pool: identical results for 1 and 2 workers, a killed worker costs a
retry, Ctrl-C and --resume, ImageFolder and preprocessing, bad inputs (exit 2, one line)."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vairun import VairunError
from vairun.cli import main
from vairun.evaluate import EvalInterrupted, evaluate
from vairun.evaluate.data import open_data
from vairun.evaluate.pool import LocalPool
from xir.images import normalize_imagenet, read_image

from eval_support import BATCH, N_INPUTS, KillingSpec, compile_tiny, make_data, reference


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return compile_tiny(tmp_path_factory)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("evaldata"))


@pytest.fixture(scope="module")
def ref(model, data):
    return reference(model, data[0])


def _top(out, y):
    pred = out.reshape(out.shape[0], -1)
    order = np.argsort(-pred, axis=1, kind="stable")[:, :5]
    return float(np.mean(order[:, 0] == y)), float(np.mean((order == y[:, None]).any(axis=1)))


def test_one_and_two_workers_give_identical_results(model, data, ref, tmp_path):
    x, y = data
    r1 = evaluate(model, x, y, batch=BATCH, workers=1, outputs=tmp_path / "one.npz")
    r2 = evaluate(model, x, y, batch=BATCH, workers=2, outputs=tmp_path / "two.npz")
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    assert not (tmp_path / "one.npz.parts").exists()
    (name, want), = ref.items()
    with np.load(tmp_path / "two.npz") as z:
        assert np.array_equal(z[name], want)           # same order as the inputs, bit for bit
        assert z["top5"].shape == (N_INPUTS, 5)
    top1, top5 = _top(want, np.load(y))
    for r in (r1, r2):
        assert (r.images, r.top1, r.top5, r.retries) == (N_INPUTS, top1, top5, 0)
        assert r.images_per_s > 0 and r.board["fps"] > 0 and r.board["latency_ms"] > 0
    assert (r1.workers, r2.workers) == (1, 2)


def test_killed_worker_costs_a_retry_not_an_image(model, data, ref, tmp_path):
    spec = open_data(data[0], (32, 32, 3)).spec
    killing = KillingSpec(**asdict(spec), kill_at=3 * BATCH, marker=str(tmp_path / "killed"))
    pool = LocalPool(2, model.read_bytes(), str(model), None, True, killing)
    shards = [(i, s, min(s + BATCH, N_INPUTS)) for i, s in enumerate(range(0, N_INPUTS, BATCH))]
    try:
        results = list(pool.run(shards))
    finally:
        pool.close()
    assert (tmp_path / "killed").exists() and pool.retries == 1
    assert sorted(r.shard for r in results) == list(range(len(shards)))   # none lost, none twice
    (name, want), = ref.items()
    got = np.concatenate([r.outputs[name] for r in sorted(results, key=lambda r: r.shard)])
    assert np.array_equal(got, want)


def test_interrupt_then_resume(model, data, tmp_path):
    x, y = data
    full = tmp_path / "full.npz"
    evaluate(model, x, y, batch=BATCH, workers=1, outputs=full)
    out = tmp_path / "part.npz"

    def stop_after_two(done, total, engine):
        if done >= 2 * BATCH:
            raise KeyboardInterrupt

    with pytest.raises(EvalInterrupted) as e:
        evaluate(model, x, y, batch=BATCH, workers=2, outputs=out, on_progress=stop_after_two)
    assert e.value.resumable and 2 * BATCH <= e.value.done < N_INPUTS
    assert not out.exists() and len(list((tmp_path / "part.npz.parts").glob("shard_*.npz"))) >= 2
    with pytest.raises(VairunError, match="other batch"):
        evaluate(model, x, y, batch=4, workers=1, outputs=out, resume=True)
    r = evaluate(model, x, y, batch=BATCH, workers=2, outputs=out, resume=True)
    assert r.resumed == e.value.done and r.images == N_INPUTS
    assert out.read_bytes() == full.read_bytes()


def _workers(pid):
    """The eval workers among ``pid``'s children (not multiprocessing's resource tracker)."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        kids = [int(p) for p in f.read().split()]
    out = []
    for k in kids:
        try:
            with open(f"/proc/{k}/cmdline") as f:
                if "spawn_main" in f.read():
                    out.append(k)
        except FileNotFoundError:
            pass
    return out


def _gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in "ZX"
    except FileNotFoundError:
        return True


def test_ctrl_c_stops_workers_and_keeps_finished_shards(model, tmp_path):
    x, y = make_data(tmp_path, n=800)
    out = tmp_path / "o.npz"
    cmd = [sys.executable, "-m", "vairun.cli", "eval", str(model), "--data", str(x), "--labels", str(y),
           "--batch", "4", "--workers", "2", "--outputs", str(out)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parts = tmp_path / "o.npz.parts"
    deadline = time.time() + 60
    while time.time() < deadline and not list(parts.glob("shard_*.npz")) and p.poll() is None:
        time.sleep(0.05)
    workers = _workers(p.pid)
    assert p.poll() is None and len(workers) >= 2, "the run ended before it could be interrupted"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert err.strip().startswith("vairun: interrupted after") and "--resume" in err and len(err.strip().splitlines()) == 1
    assert all(_gone(w) for w in workers)
    assert not out.exists() and list(parts.glob("shard_*.npz"))


def test_image_folder_labels_and_preprocessing(model, tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "val"
    for c, cls in enumerate(("cat", "dog", "eel")):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (40 + 8 * c, 36, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    files = sorted(root.rglob("*.png"))
    labels = np.array([["cat", "dog", "eel"].index(f.parent.name) for f in files])
    for prep, fit in (("none", "resize"), ("imagenet", "crop")):
        xs = np.stack([read_image(f, 3, 32, 32, fit) for f in files])
        if prep == "imagenet":
            xs = normalize_imagenet(xs)
        np.save(tmp_path / "xs.npy", xs)
        (name, want), = reference(model, tmp_path / "xs.npy").items()
        r = evaluate(model, root, preprocess=prep, batch=4, workers=2, outputs=tmp_path / f"{prep}.npz")
        with np.load(tmp_path / f"{prep}.npz") as z:
            assert np.array_equal(z[name], want)
        assert (r.top1, r.top5) == _top(want, labels)


def test_cli_json(model, data, tmp_path):
    x, y = data
    res = CliRunner().invoke(main, ["eval", str(model), "--data", str(x), "--labels", str(y), "--workers", "1",
                                    "--limit", "10", "--batch", "4", "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["images"] == 10 and {"top1", "top5", "images_per_s", "board"} <= set(r)
    assert "10 inputs: top-1" in res.output


@pytest.mark.parametrize("case, message", [
    ("missing", "no such data file or folder"),
    ("shape", "do not fit the model's input"),
    ("labels", "labels for 40 inputs"),
    ("label_range", "out of range"),
    ("resume", "--resume needs --outputs"),
    ("mixed", "mixes .npy shards"),
    ("bad_image", "cannot read the image"),
    ("labels_for_images", "--labels is for .npy inputs"),
])
def test_bad_inputs_exit_2_with_one_line(model, data, tmp_path, case, message):
    x, y = data
    args = ["eval", str(model), "--data", str(x), "--labels", str(y), "--workers", "1"]
    if case == "missing":
        args[3] = str(tmp_path / "nope.npy")
    elif case == "shape":
        np.save(tmp_path / "bad.npy", np.zeros((4, 16, 16, 3), np.float32))
        args[3] = str(tmp_path / "bad.npy")
    elif case == "labels":
        np.save(tmp_path / "yl.npy", np.zeros(7, np.int64))
        args[5] = str(tmp_path / "yl.npy")
    elif case == "label_range":
        np.save(tmp_path / "yr.npy", np.full(N_INPUTS, 10, np.int64))
        args[5] = str(tmp_path / "yr.npy")
    elif case == "resume":
        args.append("--resume")
    elif case == "mixed":
        (tmp_path / "m" / "sub").mkdir(parents=True)
        np.save(tmp_path / "m" / "a.npy", np.load(x))
        args[3] = str(tmp_path / "m")
    elif case in ("bad_image", "labels_for_images"):
        (tmp_path / "imgs" / "a").mkdir(parents=True)
        (tmp_path / "imgs" / "a" / "broken.png").write_bytes(b"not a png")
        args[3] = str(tmp_path / "imgs")
        if case == "bad_image":
            args[4:6] = []
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vairun: error:") and message in lines[0], res.stderr


def test_ray_missing_is_one_line_exit_2(model, data, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)          # `import ray` raises ImportError
    x, y = data
    res = CliRunner().invoke(main, ["eval", str(model), "--data", str(x), "--ray", "local"])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'vitis-ai-py[ray]'" in lines[0], res.stderr
