"""Zoo building blocks and the library-style models: stochastic depth, squeeze-excite, channel shuffle,
RegNet widths, grouped convs, in-place layers, the YOLO decode step and activation choice, U-Net modes."""

import pytest
import torch
from torch import nn

from vaiq.zoo import MODELS, get_model, regnet_widths
from vaiq.zoo.common import DropPath, SqueezeExcite, make_divisible
from vaiq.zoo.efficientnet import MBConv
from vaiq.zoo.shufflenet import ShuffleUnit, channel_shuffle
from vaiq.zoo.yolo import DEFAULT_ANCHORS, DEFAULT_STRIDES, decode_yolo


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_drop_path_is_identity_in_eval_and_drops_whole_samples_in_training():
    layer = DropPath(0.5)
    x = torch.rand(64, 3, 2, 2) + 1.0
    assert layer.eval()(x) is x
    torch.manual_seed(0)
    y = layer.train()(x)
    ratio = y / x
    per_sample = ratio.view(64, -1)
    assert torch.all((per_sample == per_sample[:, :1]))  # one decision per sample
    kept = per_sample[:, 0]
    assert set(kept.unique().tolist()) == {0.0, 2.0}  # dropped, or kept and scaled by 1/(1-p)
    assert DropPath(0.0).train()(x) is x
    with pytest.raises(ValueError, match="drop probability"):
        DropPath(1.0)


def test_efficientnet_stochastic_depth_grows_linearly():
    model = MODELS["efficientnet_b0"].factory()
    rates = [m.drop_path.p for m in model.modules() if isinstance(m, MBConv)]
    assert len(rates) == 16
    assert rates == pytest.approx([0.2 * i / 16 for i in range(16)])


def test_squeeze_excite_scales_channels_by_the_gate():
    se = SqueezeExcite(4, 2, nn.ReLU(inplace=True), nn.Sigmoid())
    x = torch.randn(2, 4, 3, 3, generator=_gen(0))
    pooled = x.mean((2, 3), keepdim=True)
    scale = torch.sigmoid(se.fc2(torch.relu(se.fc1(pooled))))
    torch.testing.assert_close(se(x), x * scale)


def test_make_divisible_rounds_to_multiples_and_never_loses_ten_percent():
    assert make_divisible(72 // 4, 8) == 24  # 18 -> 16 would lose more than 10 %
    assert make_divisible(240 // 4, 8) == 64
    assert make_divisible(16 // 4, 8) == 8  # at least the divisor
    assert make_divisible(24, 16) == 32
    assert make_divisible(152, 16) == 160


def test_channel_shuffle_interleaves_the_two_halves():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]


def test_shuffle_unit_keeps_the_first_half_untouched_before_the_shuffle():
    unit = ShuffleUnit(6, 6, 1).eval()
    x = torch.randn(1, 6, 4, 4, generator=_gen(1))
    with torch.no_grad():
        y = unit(x)
    torch.testing.assert_close(y[:, 0::2], x[:, :3], rtol=0, atol=0)
    with pytest.raises(ValueError, match="even"):
        ShuffleUnit(6, 7, 2)


def test_shufflenet_splits_with_chunk_in_the_exported_graph():
    model = get_model("tiny_shufflenet")
    exported = torch.export.export(model, (torch.zeros(MODELS["tiny_shufflenet"].input_shape),))
    targets = {str(n.target) for n in exported.graph.nodes if n.op == "call_function"}
    assert any("chunk" in t or "split" in t for t in targets), sorted(targets)


def test_regnet_x_400mf_widths_from_the_design_rule():
    assert regnet_widths(22, 24, 24.48, 2.54, 16) == ((32, 64, 160, 400), (1, 2, 7, 12))
    with pytest.raises(ValueError, match="wm > 1"):
        regnet_widths(4, 24, 10, 1.0, 8)


@pytest.mark.parametrize("name, groups", [
    ("tiny_regnet", {3, 5}),
    ("tiny_resnext", {3}),
    ("regnet_x_400mf", {2, 4, 10, 25}),
    ("resnext50", {32}),
])
def test_grouped_convs(name, groups):
    """Grouped (1 < groups < channels) 3x3 convs with the expected group counts, odd in the tiny nets."""
    convs = [m for m in MODELS[name].factory().modules() if isinstance(m, nn.Conv2d)]
    grouped = {m.groups for m in convs if 1 < m.groups < m.in_channels}
    assert grouped == groups


@pytest.mark.parametrize("name, act", [
    ("tiny_efficientnet", nn.SiLU),
    ("tiny_mobilenet_v3", nn.Hardswish),
    ("tiny_mobilenet_v3", nn.ReLU),
    ("tiny_shufflenet", nn.ReLU),
    ("tiny_mnasnet", nn.ReLU),
    ("tiny_regnet", nn.ReLU),
    ("tiny_resnext", nn.ReLU),
    ("tiny_yolo", nn.LeakyReLU),
    ("tiny_unet", nn.ReLU),
])
def test_activations_are_in_place(name, act):
    layers = [m for m in MODELS[name].factory().modules() if isinstance(m, act)]
    assert layers and all(m.inplace for m in layers)


@pytest.mark.parametrize("name, gate", [("tiny_efficientnet", nn.Sigmoid), ("tiny_mobilenet_v3", nn.Hardsigmoid)])
def test_squeeze_excite_gates(name, gate):
    ses = [m for m in MODELS[name].factory().modules() if isinstance(m, SqueezeExcite)]
    assert ses and all(isinstance(se.gate, gate) for se in ses)


# --- YOLO ---------------------------------------------------------------------------------------------


def test_decode_of_zero_logits_gives_cell_centres_and_anchor_sizes():
    """sigmoid(0) = 0.5: centre (j + 0.5) * stride, size = the anchor, scores 0.5."""
    heads = [torch.zeros(1, 3 * 7, 64 // s, 64 // s) for s in DEFAULT_STRIDES]
    boxes = decode_yolo(heads)
    assert boxes.shape == (1, 3 * (8 * 8 + 4 * 4 + 2 * 2), 7)
    first = boxes[0, : 3 * 64].view(3, 8, 8, 7)
    for a, (aw, ah) in enumerate(DEFAULT_ANCHORS[0]):
        for i, j in ((0, 0), (2, 5), (7, 7)):
            assert first[a, i, j].tolist() == [(j + 0.5) * 8, (i + 0.5) * 8, aw, ah, 0.5, 0.5, 0.5]
    last = boxes[0, -1]  # stride-32 head, last anchor, cell (1, 1)
    assert last.tolist() == [48.0, 48.0, 373.0, 326.0, 0.5, 0.5, 0.5]


def test_decode_of_model_heads_matches_the_formula_per_element():
    model = get_model("tiny_yolo")
    x = torch.randn(1, 3, 64, 64, generator=_gen(3))
    with torch.no_grad():
        heads = model(x)
    boxes = decode_yolo(heads, model.anchors, model.strides)
    per_anchor = 5 + model.num_classes
    assert boxes.shape == (1, 3 * (64 + 16 + 4), per_anchor)
    level, a, i, j = 1, 2, 3, 1  # stride-16 head, third anchor, row 3, column 1
    raw = heads[level][0, a * per_anchor:(a + 1) * per_anchor, i, j]
    s = torch.sigmoid(raw)
    stride, (aw, ah) = 16, DEFAULT_ANCHORS[level][a]
    expected = torch.cat([
        torch.stack([(2 * s[0] - 0.5 + j) * stride, (2 * s[1] - 0.5 + i) * stride,
                     (2 * s[2]) ** 2 * aw, (2 * s[3]) ** 2 * ah]),
        s[4:],
    ])
    row = 3 * 64 + a * 16 + i * 4 + j
    torch.testing.assert_close(boxes[0, row], expected)


def test_decode_takes_numpy_heads():
    """The emulator's outputs are arrays: decoding them (NCHW) gives the same boxes as the tensors."""
    heads = [torch.randn(1, 3 * 6, 8 // 2**k, 8 // 2**k, generator=_gen(k)) for k in range(3)]
    torch.testing.assert_close(decode_yolo([h.numpy() for h in heads]), decode_yolo(heads), rtol=0, atol=0)


def test_decode_rejects_mismatched_heads():
    with pytest.raises(ValueError, match="anchors x"):
        decode_yolo([torch.zeros(1, 20, 8, 8), torch.zeros(1, 20, 4, 4), torch.zeros(1, 20, 2, 2)])
    with pytest.raises(ValueError, match="2 heads"):
        decode_yolo([torch.zeros(1, 21, 8, 8), torch.zeros(1, 21, 4, 4)])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        decode_yolo([torch.zeros(21, 8, 8)] * 3)


def test_yolo_activation_is_selectable():
    leaky = get_model("tiny_yolo")
    silu = get_model("tiny_yolo", act="silu")
    assert any(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.1 for m in leaky.modules())
    assert not any(isinstance(m, nn.SiLU) for m in leaky.modules())
    assert all(m.inplace for m in silu.modules() if isinstance(m, nn.SiLU))
    assert not any(isinstance(m, nn.LeakyReLU) for m in silu.modules())
    x = torch.randn(1, 3, 64, 64, generator=_gen(4))
    exported = torch.export.export(silu, (x,))
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(exported.module()(x), silu(x)))
    with pytest.raises(ValueError, match="leaky, silu"):
        get_model("tiny_yolo", act="mish")


# --- U-Net --------------------------------------------------------------------------------------------


def test_unet_nearest_upsampling_exports_and_has_no_transposed_conv():
    model = get_model("tiny_unet", upsampling="nearest")
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in model.modules())
    assert sum(isinstance(m, nn.Upsample) for m in model.modules()) == 2
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in get_model("tiny_unet").modules()) == 2
    x = torch.randn(1, 3, 32, 32, generator=_gen(5))
    with torch.no_grad():
        y = model(x)
        assert y.shape == (1, 3, 32, 32)
        assert torch.equal(torch.export.export(model, (x,)).module()(x), y)
    with pytest.raises(ValueError, match="transposed, nearest"):
        get_model("tiny_unet", upsampling="bilinear")


def test_unet_output_depends_on_the_skip_connections():
    """Each output pixel sees its own neighbourhood at full resolution through the first skip: changing
    one input pixel changes the logits near it more than far away."""
    model = get_model("tiny_unet")
    x = torch.randn(1, 3, 32, 32, generator=_gen(6))
    x2 = x.clone()
    x2[0, :, 3, 3] += 5.0
    with torch.no_grad():
        diff = (model(x2) - model(x)).abs().sum(1)[0]
    assert diff[2:5, 2:5].sum() > 0
    assert diff[2:5, 2:5].mean() > diff[20:, 20:].mean()


# --- full size (slow) ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name, shapes", [
    ("efficientnet_b0", [(1, 1000)]),
    ("mobilenet_v3_small", [(1, 1000)]),
    ("shufflenet_v2", [(1, 1000)]),
    ("mnasnet", [(1, 1000)]),
    ("regnet_x_400mf", [(1, 1000)]),
    ("resnext50", [(1, 1000)]),
    ("yolo_tiny", [(1, 255, 40, 40), (1, 255, 20, 20), (1, 255, 10, 10)]),
    ("unet", [(1, 2, 128, 128)]),
])
def test_full_size_forward_and_export(name, shapes):
    model = get_model(name, bn_batches=1)
    x = torch.randn(MODELS[name].input_shape, generator=_gen(7))
    with torch.no_grad():
        ys = model(x)
        ys = list(ys) if isinstance(ys, tuple) else [ys]
        assert [tuple(y.shape) for y in ys] == shapes
        assert all(torch.isfinite(y).all() for y in ys)
        zs = torch.export.export(model, (x,)).module()(x)
    zs = list(zs) if isinstance(zs, tuple) else [zs]
    assert all(torch.equal(z, y) for z, y in zip(zs, ys))
