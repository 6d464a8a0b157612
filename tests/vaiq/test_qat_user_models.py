"""QAT on models written the way popular libraries write them: in-place ReLUs, nn.Sequential blocks,
``+`` and ``torch.cat`` inline, odd spatial sizes, a module called twice, a conv without BatchNorm,
a BatchNorm without conv, bias-free convs, a Linear + BatchNorm1d head. Training runs (BatchNorm with
batch statistics, then frozen), and the promise holds: frozen trainable model == deployable model ==
test-mode quant_model == the DPU emulator, zero differing elements."""
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from flow import assert_emulator_equals
from vaiq import QatProcessor, torch_quantizer


class LibraryStyleNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8),
                                  nn.ReLU(inplace=True))
        self.branch = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8),
                                    nn.ReLU6(inplace=True), nn.Conv2d(8, 8, 1))       # the 1x1 has no BN
        self.act = nn.ReLU(inplace=True)                                              # called twice
        self.bn_alone = nn.BatchNorm2d(16)                                            # after a concat
        self.pool = nn.MaxPool2d(2, ceil_mode=True)                                   # 7x7 -> 4x4
        self.head = nn.Sequential(nn.Linear(16 * 4 * 4, 12, bias=False), nn.BatchNorm1d(12),
                                  nn.ReLU(inplace=True), nn.Linear(12, 5))

    def forward(self, x):
        x = self.stem(x)
        y = self.act(self.branch(x) + x)
        z = self.bn_alone(torch.cat([x, y], 1))
        return self.head(torch.flatten(self.act(self.pool(z)), 1))


def _train(qm, gen, steps, batch=16):
    opt = torch.optim.Adam([{"params": qm.quantizer_parameters(), "lr": 1e-3},
                            {"params": qm.non_quantizer_parameters(), "lr": 1e-3}])
    qm.train()
    for _ in range(steps):
        x = torch.randn(batch, 3, 13, 13, generator=gen)
        loss = F.cross_entropy(qm(x), torch.randint(0, 5, (batch,), generator=gen))
        opt.zero_grad()
        loss.backward()
        opt.step()


def trained_and_deployed(bits, tmp_path):
    """Train (batch statistics, then frozen BatchNorm), freeze, deploy; assert the frozen trainable
    model, the deployable model and test mode agree; return the test-mode quantizer and the input."""
    model = LibraryStyleNet().eval()
    gen = torch.Generator().manual_seed(1)
    qat = QatProcessor(model, (torch.randn(1, 3, 13, 13, generator=gen),), bitwidth=bits)
    with pytest.raises(Exception, match="'act' is called 2 times"):
        qat.trainable_model()
    with pytest.warns(UserWarning, match="act"):
        qm = qat.trainable_model(allow_reused_module=True)
    before = {k: v.clone() for k, v in qm.weights.named_buffers() if "running_mean" in k}
    _train(qm, gen, 4)                                # the first pass is the warm-up
    moved = [k for k, v in qm.weights.named_buffers() if "running_mean" in k and not torch.equal(v, before[k])]
    assert len(moved) == len(before) == 4             # stem, branch, concat and head BatchNorms train
    qm.freeze_bn_stats()
    _train(qm, gen, 2)
    qm.freeze_quant()
    qm.eval()
    x = torch.randn(5, 3, 13, 13, generator=gen)
    with torch.no_grad():
        frozen = qm(x)
        deployed = qat.to_deployable(qm, str(tmp_path / "qat_result"))(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        q = torch_quantizer("test", model, (torch.randn(1, 3, 13, 13),), output_dir=str(tmp_path / "qat_result"))
    with torch.no_grad():
        tested = q.quant_model(x)
    assert int((frozen != deployed).sum()) == 0 and int((deployed != tested).sum()) == 0
    return q, x


@pytest.mark.parametrize("bits", [8, 4])
def test_library_style_model_trains_and_deploys_what_it_trained(bits, tmp_path):
    trained_and_deployed(bits, tmp_path)


def test_library_style_model_compiles_and_the_emulator_agrees(tmp_path):
    """The ReLU after the max-pool stands alone: vaic runs it as an identity depthwise conv, whose
    shift_cut range the refinement enforces (its trained output position may not be finer than the
    pool's)."""
    q, x = trained_and_deployed(8, tmp_path)
    assert_emulator_equals(q, "DPUCZDX8G/KV260", tmp_path / "compiled", x)
