"""Grouped convolutions on the DPU: split into pieces of groups (vaic/passes/split_groups.py), bit-exact
through vaiq -> vaic -> vairun at odd group counts and widths, one DPU subgraph."""
import numpy as np
import pytest
import torch
from torch import nn

from vaic.passes.split_groups import block_diagonal
from xir.target import load_target
from xir.target.placement import OpDesc, groups_per_piece, misfit

from flow import assert_emulator_equals, quantize_roundtrip


class GroupedNet(nn.Module):
    """Grouped convs as ResNeXt / RegNet blocks write them, at odd widths and group counts."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 30, 3, padding=1, bias=False), nn.BatchNorm2d(30), nn.ReLU(inplace=True))
        self.g3 = nn.Sequential(nn.Conv2d(30, 30, 3, stride=2, padding=1, groups=3, bias=False), nn.BatchNorm2d(30),
                                nn.ReLU(inplace=True))
        self.g5 = nn.Conv2d(30, 40, 3, padding=1, groups=5)
        self.g4 = nn.Conv2d(40, 64, 1, groups=4)
        self.g32 = nn.Conv2d(64, 64, 3, padding=1, groups=32)

    def forward(self, x):
        x = self.g3(self.stem(x))
        y = torch.relu(self.g5(x))
        z = self.g4(y)
        return self.g32(z) + z


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    torch.manual_seed(0)
    q = quantize_roundtrip(GroupedNet().eval(), (1, 3, 17, 19), tmp_path_factory.mktemp("grouped"))
    return q, q.export_xmodel()


@pytest.mark.parametrize("key", ["DPUCZDX8G/KV260", "DPUCADF8H/U250", "DPUCZDX8G/B512", "DPUCAHX8H/U50"])
def test_grouped_convs_run_on_the_dpu_bit_exact(quantized, key, tmp_path):
    q, _ = quantized
    x = torch.randn(3, 3, 17, 19, generator=torch.Generator().manual_seed(3)) * 1.5
    res = assert_emulator_equals(q, key, tmp_path, x)
    assert [s.get_attr("device") for s in res.subgraphs] == ["USER", "DPU"]
    assert sum("split_groups" in line for line in res.log) == 4


def test_pieces_fill_one_channel_group():
    assert groups_per_piece(32, 4, 16) == 4        # ResNeXt-50's first stage on ICP 16
    assert groups_per_piece(24, 16, 16) == 1       # RegNetX: group width 16
    assert groups_per_piece(5, 3, 16) == 5         # every group in one piece: a dense conv
    assert groups_per_piece(3, 40, 16) == 1


def test_block_diagonal_is_the_grouped_conv():
    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, (6, 3, 3, 2)).astype(np.int8)      # 3 groups of 2 -> 2
    x = rng.integers(-128, 128, (1, 6, 5, 5)).astype(np.float64)
    grouped = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w.astype(np.float64)).permute(0, 3, 1, 2),
                                         groups=3)
    dense = torch.nn.functional.conv2d(torch.from_numpy(x),
                                       torch.from_numpy(block_diagonal(w, 3).astype(np.float64)).permute(0, 3, 1, 2))
    assert torch.equal(grouped, dense)


def test_a_grouped_conv_fits_when_its_piece_does():
    kv260 = load_target("DPUCZDX8G/KV260")
    ok = OpDesc("conv2d-fix", "conv", kernel=(3, 3), groups=32, in_channels=4, out_channels=128)
    assert misfit(ok, kv260) is None
    dilated = OpDesc("conv2d-fix", "conv", kernel=(3, 3), dilation=(2, 2), groups=2, in_channels=8, out_channels=8)
    assert misfit(dilated, kv260).code == "DILATION"
    tconv = OpDesc("transposed-conv2d-fix", "tconv", kernel=(3, 3), groups=2, in_channels=8, out_channels=8)
    assert misfit(tconv, kv260).code == "GROUPED_CONV"
