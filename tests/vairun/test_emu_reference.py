"""The reference executor (vairun/emu/reference.py) and the fast one (vairun/emu/fast/) are the same
machine: on the DPU subgraphs vaic compiles from zoo models for several targets, with random bytes in
every per-image register, both leave identical banks, DDR registers and INIT state, on the first
run (instruction by instruction, with plans) and on the second (the fused program). Hand-written
streams are checked in the semantic test modules (conftest.py runs each of their streams on both).
The default suite runs a few tiny models on targets of different ISAs; the slow suite every zoo model
on every target vaic compiles for."""
import copy

import numpy as np
import pytest

from emu_support import ExecutorsDiffer, run_both
from vairun.emu import Machine
from vairun.model import load_compiled
from xir.target import list_targets, load_target

from flow import quantize_roundtrip

DEFAULT = [("tiny_resnet", "DPUCZDX8G/KV260"), ("tiny_mobilenet", "DPUCZDX8G/B512"),
           ("tiny_squeezenet", "DPUCADF8H/U250"), ("tiny_inception", "DPUCVDX8G/VCK190"),
           ("leaky_net", "DPUCAHX8H/U50")]
COMPILABLE = [t for t in list_targets() if load_target(t).compilable]


def _models():
    from vaiq.zoo import MODELS
    return sorted(MODELS)


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """``get(name)``: the deploy .xmodel of zoo model ``name`` (quantized once per module)."""
    from vaiq.zoo import MODELS, get_model
    cache = {}

    def get(name):
        if name not in cache:
            q = quantize_roundtrip(get_model(name), MODELS[name].input_shape, tmp_path_factory.mktemp(name),
                                   batches=2, batch=2)
            cache[name] = q.export_xmodel()
        return cache[name]
    return get


def compiled(quantized, name, target, folder):
    from vaic.pipeline import compile_graph
    from vaic.writer import write_outputs
    return write_outputs(compile_graph(quantized(name), target), folder, "m")["m.xmodel"]


def check_both(path, batch: int = 2, seed: int = 0) -> int:
    """Every DPU subgraph of the compiled model at ``path``, run twice on the fast executor, equals the
    reference executor each time; returns the number of instructions checked."""
    model = load_compiled(path)
    rng = np.random.default_rng(seed)
    checked = 0
    for plan in model.plans.values():
        m = Machine(model.target, batch=batch)
        for run in range(2):
            m.reset()
            if 0 in plan.reg_sizes:
                m.set_reg(0, np.frombuffer(plan.const, dtype=np.int8), shared=True)
            for reg, size in plan.reg_sizes.items():
                if reg != 0:
                    m.set_reg(reg, rng.integers(-128, 128, size=(batch, size), dtype=np.int8))
            run_both(m, plan.instructions)
        checked += len(plan.instructions)
    return checked


@pytest.mark.usefixtures("emu_kernels")   # every kernel setting of the fast executor
@pytest.mark.parametrize("name,target", DEFAULT)
def test_zoo_models_equal_on_both_executors(quantized, tmp_path, name, target):
    assert check_both(compiled(quantized, name, target, tmp_path)) > 0


@pytest.mark.slow
@pytest.mark.parametrize("target", COMPILABLE)
@pytest.mark.parametrize("name", _models())
def test_every_zoo_model_and_target(quantized, tmp_path, name, target):
    path = compiled(quantized, name, target, tmp_path)
    if not load_compiled(path).plans:
        pytest.skip(f"vaic puts no part of {name} on the DPU of {target}")
    assert check_both(path, batch=1) > 0


def test_a_difference_is_noticed(quantized, tmp_path, monkeypatch):
    """The comparison can fail: a reference CONV that reads its bias one line further on."""
    from vairun.emu import reference
    plain = reference.OPCODES["CONV"]

    def shifted(m, op):
        op = copy.copy(op)
        op.fields = dict(op.fields, bank_addr_bias=op["bank_addr_bias"] + 1)
        plain(m, op)

    monkeypatch.setitem(reference.OPCODES, "CONV", shifted)
    with pytest.raises(ExecutorsDiffer, match="differs"):
        check_both(compiled(quantized, "tiny_resnet", "DPUCZDX8G/KV260", tmp_path))
