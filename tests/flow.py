"""Helpers every stage's tests share: quantize a model the way a user does (calibrate, then test
mode) and the layout change between torch (NCHW) and the DPU tools (NHWC). Importable from any test
file (pyproject's pytest ``pythonpath`` holds ``tests``)."""
import numpy as np
import torch

from vaiq import torch_quantizer


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


def zoo_quantizer(tmp_path_factory, batches=2):
    """``get(name) -> (test-mode quantizer, deploy .xmodel path)`` for vaiq.zoo models, each
    quantized once per caller (use it from a module-scoped fixture)."""
    from vaiq.zoo import MODELS, get_model
    cache = {}

    def get(name):
        if name not in cache:
            q = quantize_roundtrip(get_model(name), MODELS[name].input_shape, tmp_path_factory.mktemp(name),
                                   batches=batches)
            cache[name] = (q, q.export_xmodel())
        return cache[name]
    return get


def to_nhwc(a: np.ndarray) -> np.ndarray:
    return np.transpose(a, (0, 2, 3, 1)) if a.ndim == 4 else a
