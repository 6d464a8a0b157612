"""A Ray cluster for the tests: a separate ``ray start --head`` process on 127.0.0.1 with two CPUs,
started once per test session by the ``ray_cluster`` fixture (tests/conftest.py) and torn down after.

Drivers must run with :data:`ENV`: RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps Ray on the loopback
address (otherwise Ray rewrites 127.0.0.1 to the machine's network address), and the cluster's
authentication token is passed in RAY_AUTH_TOKEN.
"""
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from xir.scaleout import RAY_LOOPBACK_ENV

ENV = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))
ENV[RAY_LOOPBACK_ENV] = "0"
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster():
    """Yields ``HOST:PORT`` of a fresh head node; stops its whole process group afterwards."""
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
            head.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
