"""Scale-out settings the tools share (docs/vairun.md, docs/vaic.md): how many local workers by default, and how a
``--ray local|ADDRESS`` option becomes a Ray session.

Rules:
- the default number of local workers is the number of CPUs this process may run on;
- ``--ray local`` starts Ray inside this process (with ``workers`` CPUs at least) as a single-machine
  instance on the loopback address (Ray's own switch for that, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0,
  set before Ray is first imported, unless the caller set it); ``--ray ADDRESS``
  (``HOST:PORT`` of a head node started with ``ray start --head``, or ``auto``) joins that cluster;
- Ray is an optional extra: without it, or when the cluster cannot be reached, :class:`ScaleOutError`
  says so in one line; the session is shut down on leaving the ``with`` block (only if this module
  started it).
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from .errors import XirError

RAY_EXTRA = "pip install 'vitis-ai-py[ray]'"
#: Ray's switch that keeps a node on the loopback address ("0": do not act as a multi-machine cluster)
RAY_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class ScaleOutError(XirError):
    """Ray is missing or its cluster cannot be reached."""


def default_workers() -> int:
    """The CPUs this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def import_ray():
    """The ``ray`` module, or :class:`ScaleOutError` telling how to install it."""
    try:
        import ray
    except ImportError as e:
        raise ScaleOutError(f"--ray needs Ray, which is not installed ({e}); {RAY_EXTRA}") from None
    return ray


@contextmanager
def ray_session(address: str, workers: int | None = None):
    """Connect to Ray for the duration of the block; yields the ``ray`` module."""
    if not address or not address.strip():
        raise ScaleOutError("--ray needs 'local' or the ADDRESS (HOST:PORT) of a Ray head node")
    local = address.strip() == "local"
    if local and "ray" not in sys.modules:
        os.environ.setdefault(RAY_LOOPBACK_ENV, "0")
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            if local:
                ray.init(address="local", num_cpus=max(workers or 1, default_workers()), **kwargs)
            else:
                ray.init(address=address.strip(), **kwargs)
        except Exception as e:  # ConnectionError, RuntimeError, ValueError depending on the failure
            detail = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ScaleOutError(f"cannot start or join Ray at {address!r}: {detail}; start a head node with "
                                "'ray start --head --port 6379' and pass --ray HOST:6379") from None
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def cluster_cpus(ray) -> int:
    """The CPUs of the connected cluster (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
