"""Decoder ops on the DPU: transposed convolutions as one CONV layer per output phase
(vaic/backend/tconv.py) and nearest upsampling as strided SAVEs (vaic/backend/upsample.py),
bit-exact through vaiq -> vaic -> vairun at odd sizes, strides, paddings and output paddings."""
import pytest
import torch
from torch import nn

from vaic.backend.tconv import phase

from flow import assert_emulator_equals, quantize_roundtrip


class Decoder(nn.Module):
    def __init__(self, k, s, p, op):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, 11, 3, padding=1), nn.ReLU(inplace=True))
        self.up = nn.ConvTranspose2d(11, 7, k, stride=s, padding=p, output_padding=op)
        self.act = nn.LeakyReLU(0.1, inplace=True)
        self.near = nn.Upsample(scale_factor=(2, 3), mode="nearest")
        self.head = nn.Conv2d(7, 5, 3, padding=1)

    def forward(self, x):
        return self.head(self.near(self.act(self.up(self.enc(x)))))


CASES = [(2, 2, 0, 0), (3, 2, 1, 1), (4, 2, 1, 0), (3, 3, 0, 2), (5, 2, 2, 1), (3, 1, 1, 0)]


@pytest.mark.parametrize("key", ["DPUCZDX8G/KV260", "DPUCADF8H/U250"])
@pytest.mark.parametrize("k, s, p, op", CASES)
def test_decoder_is_one_dpu_subgraph_bit_exact(k, s, p, op, key, tmp_path):
    torch.manual_seed(k * 10 + s)
    q = quantize_roundtrip(Decoder(k, s, p, op).eval(), (1, 3, 5, 7), tmp_path / "q")
    x = torch.randn(2, 3, 5, 7, generator=torch.Generator().manual_seed(6)) * 2
    res = assert_emulator_equals(q, key, tmp_path / "c", x)
    assert [sg.get_attr("device") for sg in res.subgraphs] == ["USER", "DPU"], res.placements


def test_phases_cover_every_output_once():
    for k, s, p, op in CASES:
        n_in = 5
        n_out = (n_in - 1) * s - 2 * p + k + op
        seen = []
        for r in range(s):
            got = phase(n_in, n_out, k, s, p, r)
            if got is None:
                continue
            taps, first, count, pb, pa, q = got
            assert count + pb + pa - len(taps) + 1 == q      # a stride-1 conv yields the phase's outputs
            seen += list(range(r, n_out, s))
        assert sorted(seen) == list(range(n_out))


def test_a_kernel_smaller_than_its_stride_is_refused():
    with pytest.raises(ValueError, match="no kernel tap"):
        phase(4, 8, 1, 2, 0, 1)
