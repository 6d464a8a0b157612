"""Shared helpers for the vaiq tests: a calibrate-then-test round trip on a zoo model."""
import numpy as np
import pytest
import torch

from vaiq import torch_quantizer
from vaiq.zoo import MODELS, get_model


def quantize_roundtrip(model, shape, out_dir, batches=3, batch=4, seed=0, **kw):
    """Run 1 (calib + export_quant_config) and run 2 (test); returns the test-mode quantizer."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=gen)
    q = torch_quantizer("calib", model, (x,), output_dir=str(out_dir), **kw)
    with torch.no_grad():
        for _ in range(batches):
            q.quant_model(torch.randn(batch, *shape[1:], generator=gen))
    q.export_quant_config()
    return torch_quantizer("test", model, (x,), output_dir=str(out_dir), **kw)


@pytest.fixture
def zoo():
    def make(name):
        return get_model(name), MODELS[name].input_shape
    return make


def to_nhwc(a: np.ndarray) -> np.ndarray:
    return np.transpose(a, (0, 2, 3, 1)) if a.ndim == 4 else a
