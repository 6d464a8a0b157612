"""Fixtures of the vaiq tests (the quantize helpers themselves are in tests/flow.py)."""
import pytest

from vaiq.zoo import MODELS, get_model


@pytest.fixture
def zoo():
    def make(name):
        return get_model(name), MODELS[name].input_shape
    return make
