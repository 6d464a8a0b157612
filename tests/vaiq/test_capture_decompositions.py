"""Capture independent of how a torch release decomposes a model: a view merging the trailing dims is
a flatten (the batch size is not baked in), ``t`` + ``addmm`` / ``mm`` with parameters is a dense
layer, graph inputs are named after ``forward``'s parameters, only the model's own outputs count."""
import torch
import torch.nn as nn

from vaiq import torch_quantizer
from vaiq.capture import capture

from flow import assert_bitexact_with_deploy, quantize_roundtrip


class ViewFlatten(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, 2, 1)
        self.w = nn.Parameter(torch.randn(4, 5 * 4 * 4) * 0.1)
        self.b = nn.Parameter(torch.randn(4) * 0.1)
        self.w2 = nn.Parameter(torch.randn(4, 3) * 0.3)

    def forward(self, image):
        x = torch.relu(self.conv(image))
        x = x.view(x.size(0), -1)                        # what older torch.export makes of flatten
        y = torch.addmm(self.b, x, self.w.t())           # what older torch.export makes of linear
        return torch.mm(torch.relu(y), self.w2)          # a bias-free linear as x @ W


def test_trailing_view_is_flatten_and_addmm_is_dense():
    g = capture(ViewFlatten().eval(), (torch.randn(1, 3, 8, 8),))
    assert g.inputs == ["image"]
    kinds = [n.kind for n in g.nodes]
    assert kinds == ["input", "conv2d", "relu", "flatten", "inner-product", "relu", "inner-product"]
    dense = [n for n in g.nodes if n.kind == "inner-product"]
    assert dense[0].param_names == {"weight": "w", "bias": "b"}
    assert tuple(dense[0].params["weight"].shape) == (4, 80) and tuple(dense[1].params["weight"].shape) == (3, 4)


def test_decomposed_model_runs_at_any_batch_and_bit_exact(tmp_path):
    model = ViewFlatten().eval()
    q = quantize_roundtrip(model, (1, 3, 8, 8), tmp_path)
    xb = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    assert_bitexact_with_deploy(q, xb)
    float_q = type(q)("float", model, (xb[:1],), output_dir=str(tmp_path))
    with torch.no_grad():
        torch.testing.assert_close(float_q.quant_model(xb), model(xb))


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, left, right):
        left.mul_(2.0)                        # mutates an input: torch.export reports it as an extra output
        return self.conv(left) + right


def test_input_names_and_own_outputs_only(tmp_path):
    model = TwoInputs().eval()
    g = capture(model, (torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4)))
    assert g.inputs == ["left", "right"]
    assert len(g.outputs) == 1 and g.node(g.outputs[0]).kind == "add"
    # the in-place multiply is a CPU op that replays out of place: the caller's tensor stays as it was
    left, right = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    kept = left.clone()
    q = torch_quantizer("float", model, (left, right), output_dir=str(tmp_path))
    with torch.no_grad():
        y = q.quant_model(left, right)
    assert torch.equal(left, kept)
    torch.testing.assert_close(y, model(left.clone(), right))
