"""``vairun eval --ray`` against a Ray cluster this module starts as a separate ``ray start --head``
process on 127.0.0.1 (torn down afterwards): the same results as the local pool, and actors killed
mid-run cost retries, not images.

Drivers run in subprocesses with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, which keeps Ray on the loopback
address (otherwise Ray rewrites 127.0.0.1 to the machine's network address), and with the cluster's
authentication token in RAY_AUTH_TOKEN.
"""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray", reason="Ray is not installed (pip install '.[ray]')")

from vairun.evaluate import evaluate  # noqa: E402

from eval_support import BATCH, N_INPUTS, compile_tiny, make_data, reference  # noqa: E402

ENV = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0",
           RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    port = _free_port()
    tmp = tempfile.mkdtemp(prefix="vray")
    head = subprocess.Popen([RAY, "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
                             "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
                             "--temp-dir", tmp, "--block"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=ENV)
    try:
        deadline = time.time() + 60
        while True:
            assert head.poll() is None, "ray start --head exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "the Ray head did not open its port within 60 s"
                time.sleep(0.3)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return compile_tiny(tmp_path_factory)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("raydata"))


def test_ray_cluster_gives_the_local_pool_results(cluster, model, data, tmp_path):
    x, y = data
    local = evaluate(model, x, y, batch=BATCH, workers=1, outputs=tmp_path / "local.npz")
    r = subprocess.run([sys.executable, "-m", "vairun.cli", "eval", str(model), "--data", str(x), "--labels", str(y),
                        "--batch", str(BATCH), "--workers", "2", "--ray", cluster, "--outputs",
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


def test_ray_actors_killed_mid_run_cost_retries_not_images(cluster, model, data, tmp_path):
    marker = str(tmp_path / "killed")
    r = subprocess.run([sys.executable, "-c", KILL_DRIVER, cluster, str(model), str(data[0]), marker, str(BATCH)],
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
