"""TorchScript export: torch.jit.load(<Net>_int.pt) computes quant_model's test-mode result, with torch ops
only (float CPU ops included), for any batch size."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from flow import quantize_roundtrip
from vaiq import VaiqError
from vaiq import export_torchscript
from vaiq.export_torchscript import export_torch_script
from vaiq.prepare import has_fix
from vaiq.zoo import MODELS, get_model

pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning"),   # torch >= 2.10
              pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")]

# the quantized kinds run vaiq.run_exact's own torch code, so these four cover every quantized kind of the
# zoo (depthwise, hard-swish, 3x3 avg-pool, concat, transposed conv, upsample, LeakyReLU, hard-sigmoid) and
# partial_net the float sigmoid / softmax
ZOO = ["tiny_mobilenet", "tiny_inception", "leaky_net", "partial_net"]
FLOAT_ATOL = 1e-6


def flat(y):
    return list(y) if isinstance(y, (tuple, list)) else [y]


def assert_matches(q, got, want):
    """Bit-equal, except that values behind a float (CPU) node may move one step (FLOAT_ATOL when unfixed)."""
    has_float = any(n.quant == "float" for n in q.graph.nodes)
    for name, g, w in zip(q.graph.outputs, flat(got), flat(want)):
        assert g.dtype == torch.float32 and g.shape == w.shape
        if not has_float:
            assert torch.equal(g, w), name
            continue
        node = q.graph.node(name)
        tol = 2.0 ** -q.table.get(name) if has_fix(node) else FLOAT_ATOL
        assert (g - w).abs().max().item() <= tol, name


@pytest.mark.parametrize("name", ZOO)
def test_loaded_module_equals_quant_model(name, tmp_path):
    shape = MODELS[name].input_shape
    q = quantize_roundtrip(get_model(name), shape, tmp_path, batches=2, batch=2)
    path = q.export_torch_script()
    assert path == tmp_path / f"{q.graph.name}_int.pt"
    module = torch.jit.load(str(path))
    for batch in (1, 3):
        x = torch.randn(batch, *shape[1:], generator=torch.Generator().manual_seed(batch)) * 1.5
        with torch.no_grad():
            assert_matches(q, module(x), q.quant_model(x))


def test_export_hides_torch_jit_deprecation_only(tmp_path):
    import warnings
    shape = MODELS["leaky_net"].input_shape
    q = quantize_roundtrip(get_model("leaky_net"), shape, tmp_path, batches=1, batch=2)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        q.export_torch_script()
    assert not [w for w in seen if "deprecated" in str(w.message)]


class FloatOps(nn.Module):
    """The float (CPU) kinds quant_model runs through numpy: sigmoid, tanh, softmax, non-global mean,
    bilinear resize, a LeakyReLU whose slope is not the DPU's; plus sub/div/matmul, a reshape on the
    batch dimension and a tuple output."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, 1, 1), nn.Conv2d(8, 8, 1)

    def forward(self, x):
        a = F.relu(self.c1(x))
        g = self.c2(a) * torch.sigmoid(a)
        r = F.interpolate(F.leaky_relu(g, 0.3), size=(11, 13), mode="bilinear", align_corners=False)
        t = (torch.tanh(r) - torch.sigmoid(r)) / (torch.sigmoid(r) + torch.sigmoid(g).mean(dim=(1, 2, 3), keepdim=True))
        s = torch.softmax(a.reshape(x.shape[0], 8, -1), dim=1)
        return torch.matmul(s, s.transpose(1, 2)), t.mean(dim=1)


def test_float_ops_use_torch_and_agree(tmp_path):
    q = quantize_roundtrip(FloatOps().eval(), (2, 3, 8, 8), tmp_path, batches=2)
    kinds = {n.kind for n in q.graph.nodes if n.quant == "float"}
    assert {"sigmoid", "tanh", "softmax", "reduction_mean", "resize", "leaky-relu", "sub", "div", "matmul"} <= kinds
    module = torch.jit.load(str(export_torch_script(q, tmp_path)))
    for batch in (1, 4):
        x = torch.randn(batch, 3, 8, 8, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            got, want = module(x), q.quant_model(x)
        assert isinstance(got, tuple) and len(got) == 2
        assert_matches(q, got, want)


def test_replayed_torch_calls_are_exported(tmp_path):
    class Relu6Abs(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return F.relu6(self.c(x)).abs()

    q = quantize_roundtrip(Relu6Abs().eval(), (2, 3, 8, 8), tmp_path, batches=1)
    assert any(n.kind == "torch" for n in q.graph.nodes)
    module = torch.jit.load(str(export_torch_script(q, tmp_path)))
    x = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(module(x), q.quant_model(x))


def test_a_trace_that_freezes_values_is_refused(tmp_path, monkeypatch):
    """A float node computed outside torch (here: numpy) becomes a constant of the trace; the export
    must notice it on the second batch size instead of writing a wrong module."""
    q = quantize_roundtrip(get_model("partial_net"), MODELS["partial_net"].input_shape, tmp_path, batches=1)
    real = export_torchscript.float_node

    def numpy_sigmoid(n, xs):
        if n.kind == "sigmoid":
            v = xs[0].detach().numpy()
            return torch.from_numpy(1.0 / (1.0 + np.exp(-v)))
        return real(n, xs)

    monkeypatch.setattr(export_torchscript, "float_node", numpy_sigmoid)
    with pytest.raises(VaiqError, match="TorchScript"):
        export_torch_script(q, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_write_is_atomic(tmp_path):
    q = quantize_roundtrip(get_model("ffn"), (1, 2), tmp_path / "q", batches=1)
    out = tmp_path / "ts"
    path = export_torch_script(q, out)
    path = export_torch_script(q, out)
    assert sorted(p.name for p in out.iterdir()) == [path.name]
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.jit.load(str(path))(x), q.quant_model(x))
