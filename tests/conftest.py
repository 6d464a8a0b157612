"""Fixtures shared across the test packages."""
import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    """``HOST:PORT`` of a Ray head node started for this session (tests/ray_cluster.py); skips when
    Ray cannot be imported."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install '.[ray]')")
    from ray_cluster import start_cluster
    yield from start_cluster()
