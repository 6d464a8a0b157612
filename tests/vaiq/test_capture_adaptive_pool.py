"""Adaptive average pooling (vaiq/aten_map.py adaptive_window): torch's bins are a fixed window when
they all have one length and start one stride apart, which holds beyond ``out`` dividing ``size``
(VGG's ``AdaptiveAvgPool2d((2, 2))`` on an 8x9 map: kernel 4x5, stride 4x4); other bins stay a float
op, and exporting it names why."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from vaiq import VaiqError
from vaiq.aten_map import adaptive_window
from vaiq.capture import capture

from flow import assert_bitexact_with_deploy, assert_emulator_equals, quantize_roundtrip


class VggHead(nn.Module):
    def __init__(self, out=(2, 2)):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(out)
        self.fc = nn.Linear(8 * out[0] * out[1], 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


def test_windows_equal_torch_adaptive_pooling():
    seen = 0
    for size in range(1, 30):
        for out in range(1, size + 1):
            w = adaptive_window(size, out)
            if w is None:
                continue
            seen += 1
            x = torch.randn(1, 1, 1, size)
            # the same bins (float sums may round differently, so compare to float precision)
            torch.testing.assert_close(F.avg_pool2d(x, (1, w[0]), (1, w[1])), F.adaptive_avg_pool2d(x, (1, out)))
    assert seen > 100
    assert adaptive_window(9, 2) == (5, 4) and adaptive_window(8, 2) == (4, 4)
    assert adaptive_window(10, 4) is None and adaptive_window(1, 7) is None   # uneven bins; upsampling


def test_uneven_map_pools_on_the_dpu_bit_exact(tmp_path):
    q = quantize_roundtrip(VggHead().eval(), (1, 3, 8, 9), tmp_path, batches=2, batch=2)
    pool = next(n for n in q.graph.nodes if n.kind == "avgpool2d")
    assert (pool.quant, pool.attrs["kernel"], pool.attrs["stride"]) == ("own", (4, 5), (4, 4))
    x = torch.randn(3, 3, 8, 9, generator=torch.Generator().manual_seed(3))
    assert_bitexact_with_deploy(q, x)
    res = assert_emulator_equals(q, "DPUCZDX8G/KV260", tmp_path / "kv260", x)
    assert res.placements["adaptive_avg_pool2d_fix"].code == "POOL"
    assert {p.device for k, p in res.placements.items() if k != "x"} == {"DPU"}


def test_uneven_bins_stay_float_and_export_says_why(tmp_path):
    g = capture(VggHead((4, 4)).eval(), (torch.randn(1, 3, 10, 10),))
    node = next(n for n in g.nodes if "adaptive" in (n.source or n.kind))
    assert node.quant == "float" and "10x10 -> 4x4 is not a fixed window" in node.reason
    q = quantize_roundtrip(VggHead((4, 4)).eval(), (1, 3, 10, 10), tmp_path, batches=1, batch=1)
    with pytest.raises(VaiqError, match=r"no XIR equivalent \(adaptive avg-pool 10x10 -> 4x4"):
        q.export_xmodel()
