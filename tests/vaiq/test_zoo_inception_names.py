"""Inception-v3 loads torchvision-named checkpoints (inception_v3_google-0cc3c7bd.pth's keys and
shapes), auxiliary head skipped; a key or shape that does not fit is named."""
import pytest
import torch

from vaiq.zoo import inception_v3
from vaiq.zoo.inception import load_torchvision_state_dict, torchvision_names

AUX = {"AuxLogits.conv0.conv.weight": (128, 768, 1, 1), "AuxLogits.conv1.conv.weight": (768, 128, 5, 5),
       "AuxLogits.fc.weight": (1000, 768), "AuxLogits.fc.bias": (1000,)}


def torchvision_style(seed=1) -> dict:
    src = inception_v3(seed=seed)
    names = torchvision_names()
    sd = {names[k]: v.clone() for k, v in src.state_dict().items()}
    sd.update({k: torch.zeros(s) for k, s in AUX.items()})
    return sd


def test_torchvision_keys_load_into_the_zoo_model():
    sd = torchvision_style()
    assert len(torchvision_names()) == 566 and "Mixed_7c.branch3x3dbl_3b.bn.running_var" in sd
    assert "Conv2d_1a_3x3.conv.weight" in sd and sd["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    m = load_torchvision_state_dict(inception_v3(seed=2), sd)
    ref = inception_v3(seed=1)
    for (k, a), b in zip(m.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("edit,match", [
    (lambda sd: sd.__setitem__("Mixed_5b.branch1x1.conv.weight", torch.zeros(64, 192, 3, 3)),
     r"'Mixed_5b.branch1x1.conv.weight' has shape \(64, 192, 3, 3\), the model's is \(64, 192, 1, 1\)"),
    (lambda sd: sd.__setitem__("Mixed_8a.conv.weight", torch.zeros(1)), "'Mixed_8a.conv.weight' is not a parameter"),
    (lambda sd: sd.pop("fc.bias"), "lacks key 'fc.bias'"),
])
def test_offending_key_is_named(edit, match):
    sd = torchvision_style()
    edit(sd)
    with pytest.raises(ValueError, match=match):
        load_torchvision_state_dict(inception_v3(seed=2), sd)
