"""A value whose shape TVM's importer leaves unknown (a concat of the slices torch's ``chunk`` exports to)
cannot be described in xir: the partitioner leaves the op reading it to TVM's CPU side instead of failing."""
from __future__ import annotations


import pytest
import torch
from torch import nn

import vai_tvm
from conftest import export_onnx

tvm = pytest.importorskip("tvm")

from vai_tvm.partition import dpu_matches  # noqa: E402

SHAPE = (1, 3, 8, 8)


class ChunkSwap(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 4, 1)

    def forward(self, x):
        y1, y2 = torch.relu(self.a(x)).chunk(2, dim=1)
        y = torch.cat([y2, y1], 1)
        return self.b(y.reshape(1, 2, 4, 8, 8).transpose(1, 2).reshape(1, 8, 8, 8))


def test_ops_of_unknown_shape_stay_on_the_cpu():
    mod = vai_tvm.from_onnx(export_onnx(ChunkSwap(), SHAPE, output_names=None), shape_dict={"x": list(SHAPE)})
    concat = [b.value for block in mod["main"].body.blocks for b in block.bindings
              if getattr(getattr(b.value, "op", None), "name", "") == "relax.concat"]
    assert len(concat) == 1 and concat[0].ty.shape is None       # the form this test is about
    names = [n for n, _ in dpu_matches(mod)]
    assert "concat" not in names and "reshape" not in names and "conv2d_bias_act" in names
    part = vai_tvm.partition_for_vitis_ai(mod)
    assert "vai_tvm.run_partition" in part["main"].script()
