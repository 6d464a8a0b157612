"""A model output that other ops also read comes out of vairun (xir/graph.py Graph.get_output_ops): quantized
by vaiq, compiled by vaic for two targets and run by vairun, every output is there and equals vaiq's test
mode bit for bit; a compiled model without the declaration runs as before (its tail ops are its outputs)."""
import numpy as np
import pytest
import torch
from torch import nn

import xir
from vaic.pipeline import compile_graph
from vaic.writer import write_outputs
from vairun import GraphRunner
from xir.interp import run_graph
from xir.transforms import fold_fix_ops

from flow import assert_emulator_equals, quantize_roundtrip, to_nhwc

TARGETS = ["DPUCZDX8G/KV260", "DPUCADF8H/U250"]


class FeatAndHead(nn.Module):
    """``return x1, head(x1)``: the head is three convs, so a workspace buffer would be reused over x1's."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                                  nn.ReLU(), nn.Conv2d(8, 6, 1))

    def forward(self, x):
        x1 = torch.relu(self.stem(x))
        return x1, self.head(x1)


class ReadByConvAndConcat(nn.Module):
    """An output read by a later conv and by a concat (which cannot write it in place)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.c = nn.Conv2d(16, 4, 1)

    def forward(self, x):
        y = torch.relu(self.a(x))
        return y, self.c(torch.cat([y, torch.relu(self.b(y))], dim=1))


class InputCopy(nn.Module):
    """The network input's quantized copy is an output."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return x, torch.relu(self.a(x))


MODELS = {"feat_and_head": FeatAndHead, "read_by_conv_and_concat": ReadByConvAndConcat, "input_copy": InputCopy}


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    cache = {}

    def get(name):
        if name not in cache:
            torch.manual_seed(0)
            cache[name] = quantize_roundtrip(MODELS[name]().eval(), (1, 3, 8, 8), tmp_path_factory.mktemp(name),
                                             batches=2)
        return cache[name]
    return get


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("model", list(MODELS))
def test_every_output_comes_out_bitexact(model, target, quantized, tmp_path):
    q = quantized(model)
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(5)) * 1.5
    res = assert_emulator_equals(q, target, tmp_path, x)
    assert len(res.graph.get_output_ops()) == 2
    if model != "input_copy":
        read = [o for o in res.graph.get_output_ops() if o.get_fanout_ops()]
        assert read, "the declared output is read by other ops"
        dpu = res.dpu_subgraphs
        assert any(t.producer in read for sg in dpu for t in sg.get_output_tensors()), \
            "the declared output is a DPU subgraph output"


def test_the_declaration_carries_through_export_fold_and_compile(quantized, tmp_path):
    q = quantized("feat_and_head")
    deploy = xir.Graph.deserialize(q.export_xmodel())
    declared = deploy.get_declared_outputs()
    assert len(declared) == 2 and deploy.get_op(declared[0]).get_fanout_ops()
    folded = fold_fix_ops(deploy)
    assert [o.get_name() for o in folded.get_output_ops()] == declared
    x = to_nhwc(np.random.default_rng(2).normal(size=(2, 3, 8, 8)).astype(np.float32))
    assert set(run_graph(folded, {q.graph.inputs[0]: x})) == set(declared)
    compiled = write_outputs(compile_graph(q.export_xmodel(), TARGETS[0]), tmp_path / "c", "m")["m.xmodel"]
    assert xir.Graph.deserialize(compiled).get_declared_outputs() == declared


def test_a_compiled_model_without_the_declaration_returns_its_tail_ops(quantized, tmp_path):
    """An xmodel compiled before outputs were declared: the runner's outputs are the tail ops, as before."""
    q = quantized("feat_and_head")
    path = write_outputs(compile_graph(q.export_xmodel(), TARGETS[0]), tmp_path / "c", "m")["m.xmodel"]
    g = xir.Graph.deserialize(path)
    full = GraphRunner(path)
    g.del_attr("output_ops")
    g.serialize(tmp_path / "old.xmodel")
    old = GraphRunner(str(tmp_path / "old.xmodel"))
    assert [o.get_name() for o in old.output_ops] == [o.get_name() for o in g.get_tail_ops()]
    assert len(old.output_ops) == 1 and len(full.output_ops) == 2
    x = to_nhwc(np.random.default_rng(3).normal(size=(2, 3, 8, 8)).astype(np.float32))
    got, want = old.run([x]), full.run([x])
    assert list(got) == [old.output_ops[0].get_name()]
    np.testing.assert_array_equal(got[old.output_ops[0].get_name()], want[old.output_ops[0].get_name()])


def test_vairun_run_writes_every_output_to_the_npz(quantized, tmp_path):
    from click.testing import CliRunner

    from vairun.cli import main
    q = quantized("read_by_conv_and_concat")
    path = write_outputs(compile_graph(q.export_xmodel(), TARGETS[1]), tmp_path / "c", "m")["m.xmodel"]
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(9))
    np.save(tmp_path / "x.npy", x.numpy())
    r = CliRunner().invoke(main, ["run", str(path), "-i", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npz"),
                                  "--nchw", "-q"])
    assert r.exit_code == 0, r.output
    got = np.load(tmp_path / "y.npz")
    with torch.no_grad():
        expect = q.quant_model(x)
    names = [o.get_name() for o in GraphRunner(path).output_ops]
    assert sorted(got.files) == sorted(names) and len(names) == len(expect) == 2
    for name, e in zip(names, expect):      # toposort order is the model's return order here
        np.testing.assert_array_equal(got[name], e.numpy())
