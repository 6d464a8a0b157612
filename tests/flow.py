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


def compile_zoo(name, folder, arch="DPUCZDX8G/KV260", net="tr"):
    """A zoo model quantized (2 batches) and compiled with vaic into ``folder/out``; the .xmodel path."""
    from vaic.pipeline import compile_graph
    from vaic.writer import write_outputs
    from vaiq.zoo import MODELS, get_model
    q = quantize_roundtrip(get_model(name), MODELS[name].input_shape, folder, batches=2)
    return write_outputs(compile_graph(q.export_xmodel(), arch), folder / "out", net)[f"{net}.xmodel"]


def to_nhwc(a: np.ndarray) -> np.ndarray:
    return np.transpose(a, (0, 2, 3, 1)) if a.ndim == 4 else a


def deploy_outputs(q, path, xb):
    """The xir reference execution of the folded deploy graph at ``path`` on ``xb`` (NCHW torch
    tensor): one dequantized array per output of the quantizer's graph, in its order."""
    import xir
    from xir.interp import dequantize_value, run_graph
    from xir.transforms import fold_fix_ops
    h = fold_fix_ops(xir.Graph.deserialize(path))
    ops = {o.name for o in h.toposort()}
    names = []
    for o in q.graph.outputs:
        hit = [c for c in (f"{o}_squeeze", f"{o}_fix", o) if c in ops]
        assert hit, f"output {o} has no op in the deploy graph"
        names.append(hit[0])
    r = run_graph(h, {q.graph.inputs[0]: to_nhwc(xb.numpy())}, outputs=names)
    return [dequantize_value(h, n, r[n]) for n in names]


def assert_bitexact_with_deploy(q, xb):
    """vaiq test mode equals the reference execution of the exported deploy graph bit for bit, output
    by output (4-D outputs of image ops are NHWC there); returns the deploy graph's path."""
    with torch.no_grad():
        ys = q.quant_model(xb)
    ys = list(ys) if isinstance(ys, (tuple, list)) else [ys]
    path = q.export_xmodel()
    refs = deploy_outputs(q, path, xb)
    assert len(refs) == len(ys)
    for y, ref in zip(ys, refs):
        y = y.numpy()
        got = to_nhwc(y) if ref.shape != y.shape else y
        assert got.shape == ref.shape
        assert int(np.count_nonzero(got != ref)) == 0
    assert q.table.violations() == []
    return path


def assert_emulator_equals(q, key, folder, x):
    """Compile q's deploy model for target ``key`` (vaic), run it on the emulator (vairun) on ``x``
    (NCHW torch tensor) and assert every output equals vaiq's test mode bit for bit; returns the
    CompileResult."""
    from pathlib import Path

    from vaic.pipeline import compile_graph
    from vaic.writer import write_outputs
    from vairun import GraphRunner
    res = compile_graph(q.export_xmodel(), key)
    runner = GraphRunner(write_outputs(res, Path(folder), "m")["m.xmodel"])
    with torch.no_grad():
        expect = q.quant_model(x)
    expect = [expect] if isinstance(expect, torch.Tensor) else list(expect)
    got = runner.run([to_nhwc(x.numpy())])
    assert len(got) == len(expect)
    for o, e in zip(q.graph.outputs, expect):     # the runner names outputs by the ops that make them
        name = next((c for c in (f"{o}_squeeze", f"{o}_fix", o) if c in got), None)
        assert name is not None, f"output {o} is not among the runner's {list(got)}"
        e = to_nhwc(e.numpy())
        assert got[name].shape == e.shape
        assert int(np.count_nonzero(got[name] != e)) == 0
    return res


def randomize_bn(model):
    """Seeded non-trivial BatchNorm statistics (mean ~ N(0, 0.1), var in [0.5, 1.5)), so folding is exercised."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model
