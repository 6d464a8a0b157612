import pytest

from flow import quantize_roundtrip, zoo_quantizer
from wego_models import TwoRegions

TWO_SHAPE = (1, 3, 16, 16)


@pytest.fixture(scope="session")
def quantized(tmp_path_factory):
    """``get(name) -> (test-mode quantizer, deploy .xmodel)`` for zoo models (quantized once)."""
    return zoo_quantizer(tmp_path_factory)


@pytest.fixture(scope="session")
def two_regions(tmp_path_factory):
    """(float model, its quantization folder, the test-mode quantizer)."""
    model = TwoRegions().eval()
    folder = tmp_path_factory.mktemp("two_regions_q")
    q = quantize_roundtrip(model, TWO_SHAPE, folder, batches=3)
    return model, folder, q


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("wego_cache")
