"""`vaiq inspect --target` and the compiler place ops alike: both judge the target's limits with
xir.target.placement, so wherever no compiler-only rule (fix positions, backend coverage, tiling) is
involved, the node's estimate equals vaic's placement of the op the node becomes."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flow import quantize_roundtrip
from torch import nn

import xir
from vaic.passes.support import place
from vaic.pipeline import compile_graph
from vaiq.cli_inspect import placement
from vaiq.describe import CanonicalView
from vaiq.ir import Node, QGraph
from vaiq.zoo import MODELS, get_model
from xir.target import load_target

ZOO = ("ffn", "digits_cnn", "partial_net", "tiny_resnet", "tiny_mobilenet", "tiny_inception",
       "tiny_squeezenet", "leaky_net")
# a full-featured edge DPU, a datacenter DPU without element-wise MUL or ALU, and an older one with
# neither depthwise, ALU, ReLU6, LeakyReLU nor transposed conv
TARGETS = ("DPUCZDX8G/KV260", "DPUCADF8H/U250", "DPUCADX8G/U200")
COMPILER_ONLY = {"RELU6_FIX_POSITION", "HSIGMOID_FIX_POSITION", "NOT_GENERATED", "NOT_TILED", "ALIAS_ONLY"}


class EdgeNet(nn.Module):
    """The forms the two placements used to judge differently: dilated, grouped and multiplier-2
    depthwise convs, an average pool that excludes padding, a broadcasting multiply, a zero pad the
    compiler folds into the next conv and a concat along H."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c0 = nn.Conv2d(3, 8, 3, padding=1)
        self.dilated = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.dw_x2 = nn.Conv2d(8, 16, 3, padding=1, groups=8)
        self.pool = nn.AvgPool2d(3, 1, padding=1, count_include_pad=False)
        self.c1 = nn.Conv2d(16, 16, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.c0(x))
        z = self.pool(self.dw_x2(self.dilated(x) + self.grouped(x)))
        z = z * z.mean((2, 3), keepdim=True)
        z = self.c1(F.pad(z, (1, 1, 1, 1)))
        return torch.cat([z, z], 2)


class ShuffleMeanNet(nn.Module):
    """A ShuffleNetV2 channel shuffle (view / transpose / view, which the compiler merges into one 1x1
    conv) and a classifier head on ``x.mean([2, 3])`` (a pool plus its squeeze) of an odd-sized image."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c0 = nn.Conv2d(3, 8, 3, padding=1)
        self.c1 = nn.Conv2d(8, 8, 1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = F.relu(self.c0(x))
        n, c, h, w = x.size()
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, -1, h, w)
        return self.fc(self.c1(x).mean([2, 3]))


class PermuteOut(nn.Module):
    """A channels-last output (``permute(0, 2, 3, 1)``, as detection heads write them): the export's
    NCHW transpose and the permute undo each other, but a declared output ends the compiler's chain."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return F.relu(self.c(x)).permute(0, 2, 3, 1)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = {}
    for name in ZOO:
        q = quantize_roundtrip(get_model(name), MODELS[name].input_shape, tmp_path_factory.mktemp(name),
                               batches=1, batch=1)
        out[name] = (q.graph, q.export_xmodel())
    q = quantize_roundtrip(EdgeNet().eval(), (1, 3, 8, 8), tmp_path_factory.mktemp("edge"), batches=1, batch=1)
    out["edge"] = (q.graph, q.export_xmodel())
    q = quantize_roundtrip(ShuffleMeanNet().eval(), (1, 3, 13, 11), tmp_path_factory.mktemp("shuffle"),
                           batches=1, batch=1)
    out["shuffle_mean"] = (q.graph, q.export_xmodel())
    q = quantize_roundtrip(PermuteOut().eval(), (1, 3, 8, 8), tmp_path_factory.mktemp("permute"), batches=1, batch=1)
    out["permute_out"] = (q.graph, q.export_xmodel())
    return out


def compiled_name(n, placements) -> str | None:
    """The op node ``n`` becomes: a float node keeps its name, a dense layer is ``<n>_fix_conv1x1``,
    a quantized op is named after its ``<n>_fix``, a layout op keeps its name or, merged into a channel
    permutation, its NHWC twin's; None for a folded pad or a merged layout op."""
    names = (n.name,) if n.quant == "float" else (f"{n.name}_fix_conv1x1", f"{n.name}_fix", n.name,
                                                   f"{n.name}_to_nhwc")
    return next((c for c in names if c in placements), None)


def compare(graph, path, key) -> list[tuple]:
    t = load_target(key)
    where = compile_graph(path, key).placements
    rows = []
    view = CanonicalView(graph)
    for n in graph.nodes:
        dev, why = placement(n, t, view)
        if dev == "-":
            continue
        op = compiled_name(n, where)
        if op is None:
            assert (n.kind == "pad" and why.startswith("folded into")) or why.startswith("merged into"), \
                (key, n.name, why)
            continue
        p = where[op]
        rows.append((n.name, dev, why, p))
        if p.code in COMPILER_ONLY:
            assert dev == "DPU", (key, n.name, why, p)
            continue
        assert dev == p.device, (key, n.name, why, p)
        if dev == "CPU" and n.quant != "float":
            assert why == f"{p.code}: {p.reason}", (key, n.name)
    return rows


@pytest.mark.parametrize("key", TARGETS)
def test_zoo_estimates_match_the_compiler(models, key):
    seen = {}
    for name in ZOO:
        graph, path = models[name]
        for node, dev, why, p in compare(graph, path, key):
            seen[(name, node)] = (dev, p.code)
    old = key == "DPUCADX8G/U200"
    # nearest upsampling: LOAD once, SAVE once per output phase
    assert seen[("leaky_net", "upsample_nearest2d")] == ("DPU", "COPY")
    # a separate hard-swish (identity depthwise conv) and hard-sigmoid run on the ALU where it lists them
    alu = ("DPU", "ALU") if key == "DPUCZDX8G/KV260" else ("CPU", "NO_ENGINE" if old else "ACTIVATION")
    assert seen[("tiny_mobilenet", "hardswish")] == alu
    assert seen[("leaky_net", "hardsigmoid")] == alu
    assert seen[("partial_net", "conv2d")] == ("DPU", "CONV")
    if old:
        assert seen[("leaky_net", "conv_transpose2d")] == ("CPU", "NO_ENGINE")
    else:   # the target has the mode: one CONV layer per output phase
        assert seen[("leaky_net", "conv_transpose2d")] == ("DPU", "CONV")


@pytest.mark.parametrize("key", ("DPUCZDX8G/KV260", "DPUCADX8G/U200"))
def test_edge_forms_agree(models, key):
    graph, path = models["edge"]
    got = {node: (dev, p.code) for node, dev, _, p in compare(graph, path, key)}
    assert got["conv2d_1"] == ("CPU", "DILATION")
    assert got["conv2d_2"][0] == "DPU"                         # split into group pieces (vaic split_groups)
    assert got["conv2d_3"] == ("CPU", "CHANNEL_MULTIPLIER" if key == "DPUCZDX8G/KV260" else "NO_ENGINE")
    assert got["avg_pool2d"] == ("CPU", "AVG_EXCLUDE_PAD")
    # an image times its per-channel mean: a per-channel scale on the depthwise engine
    assert got["mul"] == (("DPU", "DWCONV") if key == "DPUCZDX8G/KV260" else ("CPU", "NO_ENGINE"))
    assert got["cat"] == ("CPU", "CONCAT_AXIS")
    assert got["conv2d_4"] == ("DPU", "CONV")                    # with the pad folded in: 2 on each side
    assert placement(graph.node("pad"), load_target(key), CanonicalView(graph)) == ("DPU", "folded into the padding of conv2d_4")


# ------------------------------------------------------------------ single ops, both sides


def _fixed(op, fp=4):
    t = op.get_output_tensor()
    for k, v in (("fix_point", fp), ("bit_width", 8), ("if_signed", True), ("round_mode", "DPU_ROUND")):
        t.set_attr(k, v)
    op.infer_shape()
    return op


def xir_conv(cin, cout, k, groups=1, dilation=1, pad=1):
    g = xir.Graph("g")
    x = _fixed(g.create_op("x", "data-fix", {"shape": [1, 8, 8, cin], "data_type": "xint8"}))
    w = _fixed(g.create_const_op("w", np.ones((cout, k, k, cin // groups), np.int8), "xint8", kind="const-fix"), 7)
    return _fixed(g.create_op("c", "conv2d-fix", {"kernel": [k, k], "pad": [pad] * 4, "group": groups,
                                                  "dilation": [dilation, dilation], "nonlinear": "NONE"},
                              {"input": [x], "weights": [w]}))


def xir_avgpool(k, pad, include):
    g = xir.Graph("g")
    x = _fixed(g.create_op("x", "data-fix", {"shape": [1, 8, 8, 4], "data_type": "xint8"}))
    return _fixed(g.create_op("p", "pool-fix", {"type": "AVG", "kernel": [k, k], "stride": [1, 1],
                                                "pad": [pad] * 4, "count_include_pad": include}, {"input": [x]}))


def vaiq_conv(cin, cout, k, groups=1, dilation=1, pad=1):
    return Node("c", "conv2d", ["x"], {"stride": (1, 1), "padding": (pad, pad), "dilation": (dilation, dilation),
                                       "groups": groups}, {"weight": torch.zeros(cout, cin // groups, k, k)},
                quant="own")


def vaiq_avgpool(k, pad, include):
    return Node("p", "avgpool2d", ["x"], {"kernel": (k, k), "stride": (1, 1), "padding": (pad, pad),
                                          "ceil_mode": False, "count_include_pad": include}, quant="own")


GEN = frozenset({"conv2d-fix", "depthwise-conv2d-fix", "pool-fix"})


@pytest.mark.parametrize("case, code", [
    (dict(kind="conv", cin=8, cout=8, k=3, dilation=2, pad=2), "DILATION"),
    (dict(kind="conv", cin=8, cout=8, k=3, groups=2), ""),             # runs as pieces of groups
    (dict(kind="conv", cin=8, cout=8, k=3, groups=2, dilation=2, pad=2), "DILATION"),
    (dict(kind="conv", cin=8, cout=16, k=3, groups=8), None),            # depthwise, multiplier 2: below
    (dict(kind="pool", k=3, pad=1, include=False), "AVG_EXCLUDE_PAD"),
    (dict(kind="pool", k=3, pad=0, include=False), ""),                  # nothing to exclude: fits
    (dict(kind="pool", k=3, pad=1, include=True), ""),
    (dict(kind="conv", cin=8, cout=8, k=3), ""),
])
def test_single_op_rules_agree(case, code):
    kv260 = load_target("DPUCZDX8G/KV260")
    kind = case.pop("kind")
    if code is None:        # an xir depthwise conv with multiplier 2 and the torch conv that exports to it
        g = xir.Graph("g")
        x = _fixed(g.create_op("x", "data-fix", {"shape": [1, 8, 8, 8], "data_type": "xint8"}))
        w = _fixed(g.create_const_op("w", np.ones((2, 3, 3, 8), np.int8), "xint8", kind="const-fix"), 7)
        op = _fixed(g.create_op("c", "depthwise-conv2d-fix", {"kernel": [3, 3], "pad": [1] * 4, "nonlinear": "NONE"},
                                {"input": [x], "weights": [w]}))
        node, code = vaiq_conv(**case), "CHANNEL_MULTIPLIER"
    elif kind == "conv":
        op, node = xir_conv(**case), vaiq_conv(**case)
    else:
        op, node = xir_avgpool(**case), vaiq_avgpool(**case)
    p = place(op, kv260, GEN)
    graph = QGraph("g", [Node("x", "input", quant="own", shape=(1, 8, 8, 8)), node], ["x"], [node.name])
    dev, why = placement(node, kv260, CanonicalView(graph))
    assert (p.device, p.code if p.device == "CPU" else "") == ("CPU" if code else "DPU", code)
    assert dev == p.device
    if code:
        assert why == f"{p.code}: {p.reason}"


@pytest.mark.parametrize("key", TARGETS)
def test_subgraph_count_estimate_matches_the_compiler(models, key):
    """vaiq inspect's summary groups its estimated devices with vaic's grouping rule; where no
    compiler-only reason moves an op, it predicts vaic's DPU subgraph count."""
    from vaiq.cli_inspect import inspect_rows, summary
    t = load_target(key)
    for name in ZOO + ("edge",):
        graph, path = models[name]
        res = compile_graph(path, key)
        if any(p.code in COMPILER_ONLY for p in res.placements.values()):
            continue
        lines = summary(graph, inspect_rows(graph, t))
        assert lines[0].startswith(f"estimated: {len(res.dpu_subgraphs)} DPU subgraph(s)"), (name, lines[0])


@pytest.mark.parametrize("key", ("DPUCZDX8G/KV260", "DPUCAHX8H/U50"))
def test_shuffle_and_mean_head_agree(models, key):
    """The shuffle's first two layout ops are merged into the 1x1 conv of the last; the mean is judged
    as its pool (U50's pool kernel limit is 8, so a 13x11 mean runs on the CPU there)."""
    graph, path = models["shuffle_mean"]
    got = {node: (dev, why, p.code) for node, dev, why, p in compare(graph, path, key)}
    assert got["view_1"][::2] == ("DPU", "CONV")
    assert got["mean"][::2] == (("DPU", "ALU") if key == "DPUCZDX8G/KV260" else ("CPU", "KERNEL_TOO_LARGE"))
    view = CanonicalView(graph)
    for name in ("view", "transpose"):
        dev, why = placement(graph.node(name), load_target(key), view)
        assert (dev, why.split(" by ")[0]) == ("DPU", f"merged into {'transpose' if name == 'view' else 'view_1'}")


def test_channels_last_output_agrees(models):
    graph, path = models["permute_out"]
    got = {node: (dev, why, p.code) for node, dev, why, p in compare(graph, path, "DPUCZDX8G/KV260")}
    assert got["permute"] == ("CPU", "NO_DPU_OP: transpose has no DPU engine", "NO_DPU_OP")


class ShuffleSplit(nn.Module):
    """A channel shuffle whose value two channel splits read (ShuffleNetV2's unit): the compiler makes the
    shuffle one permutation conv named after the export's transpose back to NHWC."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 1)
        self.c = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        n, _, h, w = x.shape
        y = F.relu(self.a(x)).view(n, 2, 4, h, w).transpose(1, 2).contiguous().view(n, 8, h, w)
        y1, y2 = y.chunk(2, dim=1)
        return self.c(torch.cat([y1, F.relu(self.b(y2))], 1))


def test_a_shuffle_read_by_a_split_is_judged_as_the_compiler_places_it(tmp_path):
    from flow import assert_emulator_equals
    key = "DPUCZDX8G/KV260"
    q = quantize_roundtrip(ShuffleSplit().eval(), (1, 3, 6, 5), tmp_path / "q", batches=1, batch=1, target=key)
    assert [n.name for n in q.graph.nodes if n.quant == "float"] == []
    view = CanonicalView(q.graph)
    shuffle = [n for n in q.graph.nodes if n.kind in ("reshape", "transpose")]
    assert len(shuffle) == 3
    assert all(placement(n, load_target(key), view)[0] == "DPU" for n in q.graph.nodes if n.kind != "input")
    dev, why = placement(shuffle[0], load_target(key), view)
    assert (dev, why.split(" by ")[0]) == ("DPU", f"merged into {shuffle[1].name}")
    assert view.op_of(shuffle[-1]).get_type() == "conv2d-fix"      # the permutation conv carries its value
    res = assert_emulator_equals(q, key, tmp_path / "c", torch.randn(2, 3, 6, 5))
    assert [s.get_attr("device") for s in res.subgraphs] == ["USER", "DPU"]
