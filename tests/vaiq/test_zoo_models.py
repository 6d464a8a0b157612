"""Model zoo: registry, forward and torch.export of every model, published parameter counts, seeding."""

import pytest
import torch
from torch import nn

from vaiq.zoo import MODELS, calibrate_bn_stats, get_model, init_params, list_models

# Reduced spatial sizes for the full-size nets (every architecture accepts them).
TEST_SHAPES = {
    "resnet50": (1, 3, 96, 96),
    "inception_v3": (1, 3, 139, 139),
    "efficientnet_b0": (1, 3, 64, 64),
    "mobilenet_v3_small": (1, 3, 64, 64),
    "shufflenet_v2": (1, 3, 64, 64),
    "mnasnet": (1, 3, 64, 64),
    "regnet_x_400mf": (1, 3, 64, 64),
    "resnext50": (1, 3, 64, 64),
    "mobilenet_v1": (1, 3, 64, 64),
    "yolo_tiny": (1, 3, 128, 128),
    "unet": (1, 3, 64, 64),
}

# Published parameter counts with 1000 classes (inception_v3 without its auxiliary classifier).
PUBLISHED_PARAMS = {
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "mobilenet_v2": 3_504_872,
    "squeezenet": 1_235_496,
    "inception_v3": 23_834_568,
    "efficientnet_b0": 5_288_548,
    "mobilenet_v3_small": 2_542_856,
    "shufflenet_v2": 2_278_604,
    "mnasnet": 4_383_312,
    "regnet_x_400mf": 5_495_976,
    "resnext50": 25_028_904,
    "vgg16": 138_357_544,
    "mobilenet_v1": 4_231_976,  # trainable parameters
}

# Published counts of the dense-prediction nets at their default class counts: YOLOv5n's model summary
# (80 classes) and the common U-Net with transposed-conv upsampling (2 classes).
PUBLISHED_DENSE_PARAMS = {"yolo_tiny": 1_872_157, "unet": 31_037_698}

# Output shapes at the test shapes; every other model is a 10-class classifier.
EXPECTED_OUT = {
    "ffn": [(1, 1)],
    "digits_cnn": [(1, 10)],
    "partial_net": [(1, 10)],
    "leaky_net": [(1, 4, 32, 32)],
    "yolo_tiny": [(1, 255, 16, 16), (1, 255, 8, 8), (1, 255, 4, 4)],
    "tiny_yolo": [(1, 24, 8, 8), (1, 24, 4, 4), (1, 24, 2, 2)],
    "unet": [(1, 2, 64, 64)],
    "tiny_unet": [(1, 3, 32, 32)],
    **{name: [(1, 1000)] for name in PUBLISHED_PARAMS},
}

LARGE = [*PUBLISHED_PARAMS, *PUBLISHED_DENSE_PARAMS]
SMALL = [n for n in MODELS if n not in LARGE]

# The models written in the style of public model libraries (issue 9), full size and tiny.
LIBRARY_STYLE = [
    "efficientnet_b0", "mobilenet_v3_small", "shufflenet_v2", "mnasnet", "regnet_x_400mf", "resnext50",
    "yolo_tiny", "unet", "tiny_efficientnet", "tiny_mobilenet_v3", "tiny_shufflenet", "tiny_mnasnet",
    "tiny_regnet", "tiny_resnext", "tiny_yolo", "tiny_unet",
]


def _shape(name):
    return TEST_SHAPES.get(name, MODELS[name].input_shape)


def _outputs(y):
    """A model's output as a list of tensors (detectors return a tuple of head maps)."""
    return list(y) if isinstance(y, (tuple, list)) else [y]


@pytest.fixture(scope="module")
def built():
    """Every registry model, built once with BN statistics from 2 batches of its test shape."""
    torch.manual_seed(0)
    return {n: get_model(n, input_shape=_shape(n), bn_batches=2) for n in MODELS}


def test_registry_lists_all_models():
    expected = {
        "ffn", "digits_cnn", "resnet18", "resnet50", "mobilenet_v2", "inception_v3", "squeezenet", "vgg16",
        "mobilenet_v1",
        "partial_net", "tiny_resnet", "tiny_mobilenet", "tiny_inception", "tiny_squeezenet", "leaky_net",
        *LIBRARY_STYLE,
    }
    assert set(list_models()) == expected
    for name, spec in MODELS.items():
        assert spec.name == name and spec.description
        assert spec.input_shape[0] == 1


def test_unknown_model_lists_known_names():
    with pytest.raises(ValueError, match="resnet18") as info:
        get_model("resnet19")
    assert "resnet19" in str(info.value)


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_and_export(built, name):
    model = built[name]
    assert not any(m.training for m in model.modules())
    x = torch.randn(_shape(name), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ys = _outputs(model(x))
    assert all(torch.isfinite(y).all() for y in ys)
    assert [tuple(y.shape) for y in ys] == EXPECTED_OUT.get(name, [(1, 10)])
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        zs = _outputs(exported.module()(x))
    assert len(zs) == len(ys)
    assert all(torch.equal(z, y) for z, y in zip(zs, ys))


@pytest.mark.parametrize("name", LIBRARY_STYLE)
def test_eval_forward_is_deterministic(built, name):
    """Dropout and stochastic depth vanish in eval mode: two forwards under different global RNG
    states give identical outputs."""
    model = built[name]
    x = torch.randn(_shape(name), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.manual_seed(10)
        a = _outputs(model(x))
        torch.manual_seed(11)
        b = _outputs(model(x))
    assert all(torch.equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("name", list(PUBLISHED_PARAMS))
def test_published_parameter_counts(built, name):
    assert sum(p.numel() for p in built[name].parameters()) == PUBLISHED_PARAMS[name]


@pytest.mark.parametrize("name", list(PUBLISHED_DENSE_PARAMS))
def test_published_parameter_counts_dense(built, name):
    assert sum(p.numel() for p in built[name].parameters()) == PUBLISHED_DENSE_PARAMS[name]


def test_inception_v3_full_size_output_grid():
    """At 299x299 the last inception block works on an 8x8 grid of 2048 channels."""
    model = MODELS["inception_v3"].factory().eval()
    feats = []
    model.blocks.register_forward_hook(lambda m, i, o: feats.append(o.shape))
    with torch.no_grad():
        model(torch.zeros(1, 3, 299, 299))
    assert tuple(feats[0]) == (1, 2048, 8, 8)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", SMALL)
def test_same_seed_same_state(name):
    torch.manual_seed(123)
    a = _state(get_model(name, seed=5))
    torch.manual_seed(456)
    b = _state(get_model(name, seed=5))
    c = _state(get_model(name, seed=6))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


@pytest.mark.parametrize("name", LARGE)
def test_same_seed_same_params_large(name):
    torch.manual_seed(1)
    a = MODELS[name].factory(seed=3)
    torch.manual_seed(2)
    b = MODELS[name].factory(seed=3)
    for (ka, pa), (kb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert ka == kb and torch.equal(pa, pb)


def test_num_classes_argument():
    classifiers = ("tiny_resnet", "tiny_mobilenet", "tiny_inception", "tiny_squeezenet", "partial_net",
                   "tiny_efficientnet", "tiny_mobilenet_v3", "tiny_shufflenet", "tiny_mnasnet", "tiny_regnet",
                   "tiny_resnext")
    with torch.no_grad():
        for name in classifiers:
            model = get_model(name, num_classes=7)
            assert model(torch.zeros(MODELS[name].input_shape)).shape == (1, 7)
        assert get_model("leaky_net", num_classes=3)(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)
        assert get_model("tiny_unet", num_classes=5)(torch.zeros(1, 3, 32, 32)).shape == (1, 5, 32, 32)
        heads = get_model("tiny_yolo", num_classes=2)(torch.zeros(1, 3, 64, 64))
        assert [h.shape[1] for h in heads] == [3 * (5 + 2)] * 3


@pytest.mark.parametrize("name", [n for n in SMALL if n not in ("ffn", "tiny_squeezenet")])
def test_bn_statistics_are_not_identity(built, name):
    bns = [m for m in built[name].modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns
    assert not any(bn.training for bn in bns)
    for bn in bns:
        assert not torch.allclose(bn.running_mean, torch.zeros_like(bn.running_mean))
        assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
        assert bn.momentum == 0.1


def test_calibrate_bn_stats_averages_batches():
    """With one BN on the input, the running stats are the mean of the per-batch statistics."""
    bn = nn.BatchNorm2d(3)
    calibrate_bn_stats(bn, (1, 3, 4, 4), batches=3, seed=7)
    gen = torch.Generator().manual_seed(7)
    batches = [torch.randn(2, 3, 4, 4, generator=gen) for _ in range(3)]
    means = torch.stack([b.mean((0, 2, 3)) for b in batches]).mean(0)
    variances = torch.stack([b.var((0, 2, 3), unbiased=True) for b in batches]).mean(0)
    assert not bn.training
    torch.testing.assert_close(bn.running_mean, means)
    torch.testing.assert_close(bn.running_var, variances)


def test_calibrate_bn_stats_keeps_stochastic_layers_in_eval():
    """Only BatchNorm runs in training mode while the statistics are gathered: a dropout before the BN
    does not change them, so they do not depend on the global RNG."""
    with_dropout = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm2d(3))
    plain = nn.Sequential(nn.Identity(), nn.BatchNorm2d(3))
    torch.manual_seed(1)
    calibrate_bn_stats(with_dropout, (2, 3, 4, 4), batches=2, seed=3)
    torch.manual_seed(2)
    calibrate_bn_stats(plain, (2, 3, 4, 4), batches=2, seed=3)
    torch.testing.assert_close(with_dropout[1].running_mean, plain[1].running_mean, rtol=0, atol=0)
    torch.testing.assert_close(with_dropout[1].running_var, plain[1].running_var, rtol=0, atol=0)
    assert not with_dropout.training and not with_dropout[0].training


def test_init_params_rejects_unknown_parameterised_module():
    with pytest.raises(TypeError, match="PReLU"):
        init_params(nn.Sequential(nn.Conv2d(1, 1, 1), nn.PReLU()))


def test_init_params_does_not_touch_global_rng():
    torch.manual_seed(9)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Linear(2, 2))
    state = torch.get_rng_state()
    init_params(model, seed=1)
    assert torch.equal(state, torch.get_rng_state())


def test_mobilenet_v1_width_multiplier_scales_channels():
    """Channels are max(int(c * width), 8): at 0.25 the stem has 8, the last block 256."""
    m = get_model("mobilenet_v1", width=0.25, input_shape=(1, 3, 128, 128), bn_batches=1)
    convs = [c for c in m.modules() if isinstance(c, nn.Conv2d)]
    assert convs[0].out_channels == 8 and convs[-1].out_channels == 256 and m.fc.in_features == 256
    with torch.no_grad():
        assert tuple(m(torch.randn(1, 3, 128, 128)).shape) == (1, 1000)
