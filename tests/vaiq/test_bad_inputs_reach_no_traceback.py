"""Issue 16 causes 8-10 on the vaiq side: corrupt quant_info positions, non-finite weights and model
files that exit are one clear line with exit code 2."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from vaiq import QuantInfoError, VaiqError, torch_quantizer
from vaiq.cli import cli

from flow import quantize_roundtrip


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.relu = torch.nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv(x))


@pytest.mark.parametrize("value", [1000, -1000, True, 10 ** 30, 2.5])
def test_quant_info_fix_positions_out_of_range_are_refused(tmp_path, value):
    model = Tiny().eval()
    quantize_roundtrip(model, (1, 3, 8, 8), tmp_path)
    p = tmp_path / "quant_info.json"
    data = json.loads(p.read_text())
    key = next(iter(data["output"]))
    data["output"][key] = [[8, value]]
    p.write_text(json.dumps(data))
    with pytest.raises(QuantInfoError, match=key.replace(".", r"\.")):
        torch_quantizer("test", model, (torch.zeros(1, 3, 8, 8),), output_dir=str(tmp_path))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(bad):
    model = Tiny().eval()
    with torch.no_grad():
        model.conv.bias[1] = bad
    with pytest.raises(VaiqError, match="conv: its bias holds"):
        torch_quantizer("calib", model, (torch.zeros(1, 3, 8, 8),))


def test_non_finite_calibration_activation_names_the_node():
    model = Tiny().eval()
    q = torch_quantizer("calib", model, (torch.zeros(1, 3, 8, 8),))
    x = torch.zeros(1, 3, 8, 8)
    x[0, 0, 0, 0] = float("inf")
    with pytest.raises(VaiqError, match="NaN or an infinity"):
        q.quant_model(x)


@pytest.mark.parametrize("body, fragment", [
    ("import sys\nsys.exit(0)\n", "calls sys.exit(0) while it is imported"),
    ("import sys, torch\nclass M(torch.nn.Module):\n    def forward(self, x):\n        sys.exit(3)\n",
     "called sys.exit(3)"),
])
def test_model_files_that_exit(tmp_path, body, fragment):
    f = tmp_path / "m.py"
    f.write_text(body)
    np_file = tmp_path / "c.npy"
    import numpy as np
    np.save(np_file, np.zeros((2, 3, 8, 8), np.float32))
    r = CliRunner().invoke(cli, ["quantize", "--model", f"{f}:M", "--input-shape", "1,3,8,8", "--calib-data",
                                 str(np_file), "--output", str(tmp_path / "o"), "-q"])
    assert r.exit_code == 2, r.output
    assert fragment in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()
