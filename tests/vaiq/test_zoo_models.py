"""Model zoo: registry, forward and torch.export of every model, published parameter counts, seeding."""

import pytest
import torch
from torch import nn

from vaiq.zoo import MODELS, calibrate_bn_stats, get_model, init_params, list_models

# Reduced spatial sizes for the two heaviest nets (both architectures accept them).
TEST_SHAPES = {"resnet50": (1, 3, 96, 96), "inception_v3": (1, 3, 139, 139)}

# Published parameter counts with 1000 classes (inception_v3 without its auxiliary classifier).
PUBLISHED_PARAMS = {
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "mobilenet_v2": 3_504_872,
    "squeezenet": 1_235_496,
    "inception_v3": 23_834_568,
}

EXPECTED_OUT = {
    "ffn": (1, 1),
    "digits_cnn": (1, 10),
    "partial_net": (1, 10),
    "leaky_net": (1, 4, 32, 32),
}

SMALL = [n for n in MODELS if n not in PUBLISHED_PARAMS]


def _shape(name):
    return TEST_SHAPES.get(name, MODELS[name].input_shape)


@pytest.fixture(scope="module")
def built():
    """Every registry model, built once with BN statistics from 2 batches of its test shape."""
    torch.manual_seed(0)
    return {n: get_model(n, input_shape=_shape(n), bn_batches=2) for n in MODELS}


def test_registry_lists_all_models():
    expected = {
        "ffn", "digits_cnn", "resnet18", "resnet50", "mobilenet_v2", "inception_v3", "squeezenet",
        "partial_net", "tiny_resnet", "tiny_mobilenet", "tiny_inception", "tiny_squeezenet", "leaky_net",
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
        y = model(x)
    assert torch.isfinite(y).all()
    if name in EXPECTED_OUT:
        assert tuple(y.shape) == EXPECTED_OUT[name]
    elif name in PUBLISHED_PARAMS:
        assert tuple(y.shape) == (1, 1000)
    else:
        assert tuple(y.shape) == (1, 10)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        assert torch.equal(exported.module()(x), y)


@pytest.mark.parametrize("name", list(PUBLISHED_PARAMS))
def test_published_parameter_counts(built, name):
    assert sum(p.numel() for p in built[name].parameters()) == PUBLISHED_PARAMS[name]


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


@pytest.mark.parametrize("name", list(PUBLISHED_PARAMS))
def test_same_seed_same_params_large(name):
    torch.manual_seed(1)
    a = MODELS[name].factory(seed=3)
    torch.manual_seed(2)
    b = MODELS[name].factory(seed=3)
    for (ka, pa), (kb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert ka == kb and torch.equal(pa, pb)


def test_num_classes_argument():
    for name in ("tiny_resnet", "tiny_mobilenet", "tiny_inception", "tiny_squeezenet", "partial_net"):
        model = get_model(name, num_classes=7)
        with torch.no_grad():
            assert model(torch.zeros(MODELS[name].input_shape)).shape == (1, 7)
    assert get_model("leaky_net", num_classes=3)(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("name", [n for n in SMALL if n not in ("ffn", "tiny_squeezenet")])
def test_bn_statistics_are_not_identity(built, name):
    bns = [m for m in built[name].modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns
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


def test_init_params_rejects_unknown_parameterised_module():
    with pytest.raises(TypeError, match="PReLU"):
        init_params(nn.Sequential(nn.Conv2d(1, 1, 1), nn.PReLU()))


def test_init_params_does_not_touch_global_rng():
    torch.manual_seed(9)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Linear(2, 2))
    state = torch.get_rng_state()
    init_params(model, seed=1)
    assert torch.equal(state, torch.get_rng_state())
