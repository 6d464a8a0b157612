"""Whole zoo models: quantize with vaiq, canonicalize, partition, generate every DPU subgraph, run it
on the emulator and compare with the reference interpreter bit for bit (ResNet-50 with -m slow,
which also prints instructions and seconds)."""
import time

import numpy as np
import pytest

import xir
from test_backend_support import TARGETS, run_program, sequential_fit, target
from xir.interp import run_graph

import vaic.backend.ddrplan as ddrplan
from vaic.backend import GENERATED, generate
from xir.transforms import canonicalize
from vaic.passes.partition import make_subgraphs, partition



def quantized(name, shape, tmp, batches=1):
    from flow import quantize_roundtrip

    import vaiq.zoo
    q = quantize_roundtrip(vaiq.zoo.get_model(name), shape, tmp, batches=batches, batch=1)
    return q.export_xmodel()


def compile_and_run(path, key, check_internal=False):
    g, _ = canonicalize(xir.Graph.deserialize(path))
    t = target(key)
    sgs = make_subgraphs(g, *partition(g, t, GENERATED))
    rng = np.random.default_rng(0)
    feeds = {o.get_name(): rng.integers(-128, 128, o.get_output_tensor().dims).astype(np.int8)
             for o in g.get_ops() if o.get_type() == "data-fix"}
    ref = run_graph(g, feeds, keep_all=True)
    stats = []
    for sg in sgs:
        if sg.get_attr("device") != "DPU":
            continue
        t0 = time.perf_counter()
        prog = generate(sg, g, t)
        stats.append((sg.get_name(), len(prog.instructions), time.perf_counter() - t0))
        got = run_program(prog, t, {p.name: ref[p.name] for p in prog.inputs})
        checked = prog.outputs + (prog.internal if check_internal else [])
        for p in checked:
            assert np.array_equal(np.asarray(ref[p.name]).astype(np.int8), got[p.name]), (key, sg.get_name(), p.name)
    return stats


@pytest.fixture(scope="module")
def tiny_resnet(tmp_path_factory):
    return quantized("tiny_resnet", (1, 3, 32, 32), tmp_path_factory.mktemp("tiny_resnet"))


@pytest.mark.parametrize("key", TARGETS)
def test_tiny_resnet_dpu_subgraph_bit_exact(tiny_resnet, key):
    stats = compile_and_run(tiny_resnet, key)
    assert len(stats) == 1 and stats[0][1] > 100
    print(f"\ntiny_resnet on {key}: {stats[0][1]} instructions in {stats[0][2]:.3f} s")


def test_tiny_resnet_every_tensor(tiny_resnet, monkeypatch):
    monkeypatch.setattr(ddrplan, "_first_fit", sequential_fit)
    compile_and_run(tiny_resnet, "DPUCZDX8G/KV260", check_internal=True)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["DPUCZDX8G/KV260", "DPUCZDX8G/B512", "DPUCADF8H/U250"])
def test_resnet50_bit_exact_and_speed(tmp_path, key):
    import torch
    import vaiq.zoo
    model = vaiq.zoo.get_model("resnet50")
    x = torch.randn(1, 3, 224, 224)
    t0 = time.perf_counter()
    torch.export.export(model, (x,))
    t_export = time.perf_counter() - t0
    path = quantized("resnet50", (1, 3, 224, 224), tmp_path)
    stats = compile_and_run(path, key)
    (name, n, secs), = stats
    print(f"\nresnet50 on {key}: {n} instructions generated in {secs:.2f} s (torch.export {t_export:.2f} s)")
