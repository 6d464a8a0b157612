"""``vairun eval --ray`` against the session's Ray cluster (a separate ``ray start --head`` process on
127.0.0.1, torn down afterwards): the same results as the local pool, and actors killed
mid-run cost retries, not images.

The cluster and the environment its drivers need are tests/ray_cluster.py's.
"""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray", reason="Ray is not installed (pip install '.[ray]')")

from vairun.evaluate import evaluate  # noqa: E402

from eval_support import BATCH, N_INPUTS, compile_tiny, make_data, reference  # noqa: E402
from ray_cluster import ENV  # noqa: E402

@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return compile_tiny(tmp_path_factory)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("raydata"))


def test_ray_cluster_gives_the_local_pool_results(ray_cluster, model, data, tmp_path):
    x, y = data
    local = evaluate(model, x, y, batch=BATCH, workers=1, outputs=tmp_path / "local.npz")
    r = subprocess.run([sys.executable, "-m", "vairun.cli", "eval", str(model), "--data", str(x), "--labels", str(y),
                        "--batch", str(BATCH), "--workers", "2", "--ray", ray_cluster, "--outputs",
                        str(tmp_path / "ray.npz"), "--json", str(tmp_path / "ray.json")],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr
    got = json.loads((tmp_path / "ray.json").read_text())
    assert (got["engine"], got["workers"], got["images"]) == ("ray", 2, N_INPUTS)
    assert (got["top1"], got["top5"]) == (local.top1, local.top5)
    assert (tmp_path / "ray.npz").read_bytes() == (tmp_path / "local.npz").read_bytes()


KILL_DRIVER = textwrap.dedent("""
    import json, os, signal, sys
    from dataclasses import asdict
    import numpy as np
    from eval_support import KillingSpec
    from vairun.evaluate.data import open_data
    from vairun.evaluate.ray_engine import RayPool
    from xir.scaleout import ray_session

    address, model, x, marker, batch = sys.argv[1:6]
    batch = int(batch)
    spec = open_data(x, (32, 32, 3)).spec
    n = spec.n
    shards = [(i, s, min(s + batch, n)) for i, s in enumerate(range(0, n, batch))]
    with ray_session(address) as ray:
        pool = RayPool(ray, 2, open(model, "rb").read(), model, None, True, None)

        class KillActors(KillingSpec):
            def kill(self):                 # the driver reads shard 3: kill every actor now
                for pid in pool.worker_pids():
                    os.kill(pid, signal.SIGKILL)

        pool.spec = KillActors(**asdict(spec), kill_at=3 * batch, marker=marker)
        try:
            results = list(pool.run(shards))
        finally:
            pool.close()
    order = sorted(r.shard for r in results)
    name = next(iter(results[0].outputs))
    out = np.concatenate([r.outputs[name] for r in sorted(results, key=lambda r: r.shard)])
    np.save(marker + ".npy", out)
    print(json.dumps({"retries": pool.retries, "shards": order, "name": name}))
""")


def test_ray_actors_killed_mid_run_cost_retries_not_images(ray_cluster, model, data, tmp_path):
    marker = str(tmp_path / "killed")
    r = subprocess.run([sys.executable, "-c", KILL_DRIVER, ray_cluster, str(model), str(data[0]), marker, str(BATCH)],
                       capture_output=True, text=True, env=dict(ENV, PYTHONPATH=str(Path(__file__).parent)),
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert Path(marker).exists() and got["retries"] >= 1
    assert got["shards"] == list(range(-(-N_INPUTS // BATCH)))     # each shard once
    want = reference(model, data[0])[got["name"]]
    assert np.array_equal(np.load(marker + ".npy"), want)


@pytest.mark.slow
def test_ray_local_starts_ray_in_process(model, data, tmp_path):
    x, y = data
    local = evaluate(model, x, y, batch=BATCH, workers=2)
    r = subprocess.run([sys.executable, "-m", "vairun.cli", "eval", str(model), "--data", str(x), "--labels", str(y),
                        "--batch", str(BATCH), "--workers", "2", "--ray", "local", "--json", str(tmp_path / "r.json")],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr
    got = json.loads((tmp_path / "r.json").read_text())
    assert (got["engine"], got["top1"], got["top5"]) == ("ray", local.top1, local.top5)
