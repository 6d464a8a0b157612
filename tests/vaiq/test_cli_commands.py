"""`vaiq quantize`, `vaiq test` and `vaiq inspect` on zoo models and on a model file (happy paths)."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import xir
from vaiq.cli import cli, inspect_rows
from vaiq.cli_inspect import placement
from vaiq.describe import CanonicalView
from vaiq.ir import Node, QGraph
from xir.target import load_target

NET_SRC = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn(self.conv(x))))
        return self.fc(torch.flatten(x, 1))
'''


def run(args, code=0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def leftovers(folder):
    return [p.name for p in folder.iterdir() if ".vaiq-" in p.name]


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(NET_SRC)
    return path


@pytest.fixture
def ffn_data(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "ffn.npz"
    x = rng.uniform(-1, 1, (40, 2)).astype(np.float32)
    np.savez(path, x=x, y=(x[:, :1] ** 2).astype(np.float32))
    return path


def test_quantize_zoo_model_from_npz(tmp_path, ffn_data):
    out = tmp_path / "out"
    r = run(["quantize", "--model", "zoo:ffn", "--calib-data", ffn_data, "--calib-size", 16, "--batch-size", 8,
             "--output", out])
    assert "calibrated on 16 sample(s)" in r.stdout and "in 2 batch(es)" in r.stdout
    assert "ops: 3 of 3 quantized" in r.stdout and "method diffs" in r.stdout
    assert "━" not in r.stdout and r.stderr == ""           # no progress bar when stdout is not a terminal
    names = {p.name for p in out.iterdir()}
    assert {"quant_info.json", "FFN_int.xmodel", "FFN_int.onnx", "FFN_int.pt"} <= names
    info = json.loads((out / "quant_info.json").read_text())
    assert info["input"] == {"FFN::x": [[8, info["input"]["FFN::x"][0][1]]]}
    assert xir.Graph.deserialize(out / "FFN_int.xmodel").name == "FFN"
    for name in sorted(names):
        assert f"wrote {out / name}" in r.stdout
    assert leftovers(tmp_path) == []


def test_quantize_method_bitwidth_and_quiet(tmp_path, ffn_data):
    out = tmp_path / "q"
    r = run(["quantize", "--model", "zoo:ffn", "--calib-data", ffn_data, "--output", out, "--bitwidth", 6,
             "--method", "maxmin", "--no-onnx", "--no-torchscript", "--quiet"])
    assert r.stdout == "" and r.stderr == ""
    assert sorted(p.name for p in out.iterdir()) == ["FFN_int.xmodel", "bias_corr.pth", "quant_info.json"]
    info = json.loads((out / "quant_info.json").read_text())
    assert {e[0][0] for e in [*info["param"].values(), *info["output"].values()]} == {6}
    r = run(["quantize", "--model", "zoo:ffn", "--calib-data", ffn_data, "--output-dir", out, "--no-onnx",
             "--no-torchscript"])      # --output-dir: nndct's output_dir= and vaic's spelling
    assert "8-bit, method diffs" in r.stdout and f"wrote {out}" in r.stdout
    # --method overrides the config file's method and keeps the rest of the file
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"overall_quantize_config": {"bit_width": 6, "method": "diffs"},
                               "tensor_quantize_config": {"activation": {"method": "diffs"}}}))
    r = run(["quantize", "--model", "zoo:ffn", "--calib-data", ffn_data, "--output", out, "--config", cfg,
             "--method", "maxmin", "--no-onnx", "--no-torchscript"])
    assert "6-bit, method maxmin" in r.stdout
    assert json.loads(cfg.read_text())["overall_quantize_config"]["method"] == "diffs"   # the user's file is kept


def test_quantize_file_model_images_then_test_with_labels(tmp_path, net_file):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)).save(images / f"{i}.png")
    torch.save({"state_dict": _net(net_file).state_dict()}, tmp_path / "ckpt.pth")
    out = tmp_path / "result"
    common = ["--model", f"{net_file}:Net", "--weights", tmp_path / "ckpt.pth", "--input-shape", "1,3,16,16"]
    r = run(["quantize", *common, "--calib-data", images, "--batch-size", 4, "--output", out])
    assert "Net (" in r.stdout and "calibrated on 6 sample(s)" in r.stdout
    assert (out / "Net_int.xmodel").is_file()
    x = rng.random((12, 3, 16, 16), dtype=np.float32)
    with torch.no_grad():
        labels = _net(net_file)(torch.from_numpy(x)).argmax(1).numpy()
    np.savez(tmp_path / "val.npz", x=x, y=labels)
    r = run(["test", *common, "--data", tmp_path / "val.npz", "--batch-size", 5, "--output", out])
    assert "evaluated 12 sample(s)" in r.stdout
    assert "accuracy on 12 samples: float 100.00%, quantized " in r.stdout
    diff = next(ln for ln in r.stdout.splitlines() if ln.startswith("float vs quantized output"))
    assert 0 < float(diff.split("max |diff| ")[1].split(",")[0]) < 0.5
    assert f"wrote {out / 'Net_int.onnx'}" in r.stdout


def _net(path):
    from vaiq.cli_model import load_model
    return load_model(f"{path}:Net", input_shape=(1, 3, 16, 16)).model


def test_test_regression_mse_deploy_check_and_warning(tmp_path, ffn_data):
    out = tmp_path / "out"
    run(["quantize", "--model", "zoo:ffn", "--calib-data", ffn_data, "--output", out, "--no-onnx",
         "--no-torchscript"])
    r = run(["test", "--model", "zoo:ffn", "--data", ffn_data, "--output", out, "--deploy-check",
             "--no-onnx", "--no-torchscript"])
    assert "MSE against labels y: float " in r.stdout
    dumps = out / "deploy_check_data_int"
    entry = json.loads((dumps / "manifest.json").read_text())["x"]       # the network input, first sample
    first = np.load(ffn_data)["x"][0]
    assert np.fromfile(dumps / entry["file"], dtype=entry["dtype"]).tolist() == \
        np.floor(first * 2.0 ** entry["fix_point"] + 0.5).astype(int).tolist()
    r = run(["test", "--model", "zoo:ffn", "--output", out, "--no-onnx", "--no-torchscript"])
    assert "one seeded random input" in r.stdout and r.stderr == ""
    # a model changed since calibration (same structure, other weights) is reported as a warning
    torch.save({k: v * 2 for k, v in _ffn_sd().items()}, tmp_path / "w.pth")
    info = json.loads((out / "quant_info.json").read_text())
    info["graph_md5"] = "0" * 32
    (out / "quant_info.json").write_text(json.dumps(info))
    r = run(["test", "--model", "zoo:ffn", "--weights", tmp_path / "w.pth", "--output", out,
             "--no-onnx", "--no-torchscript"])
    assert r.stderr.count("\n") == 1 and "warning:" in r.stderr and "graph_md5" in r.stderr


def _ffn_sd():
    from vaiq.zoo import get_model
    return get_model("ffn").state_dict()


def test_inspect_table_and_json(tmp_path):
    path = tmp_path / "sub" / "nodes.json"
    r = run(["inspect", "--model", "zoo:partial_net", "--target", "DPUCZDX8G/KV260", "--json", path])
    assert "softmax has no DPU engine" in r.stdout and "on DPUCZDX8G/KV260: 9 DPU, 2 CPU" in r.stdout
    report = json.loads(path.read_text())
    assert report["model"] == "PartialNet" and report["input_shape"] == [1, 3, 32, 32]
    assert report["target"] == "DPUCZDX8G/KV260" and report["fingerprint"] == "0x101000056010407"
    nodes = {n["name"]: n for n in report["nodes"]}
    conv = nodes["conv2d"]
    assert (conv["kind"], conv["scope"], conv["quant"], conv["act"], conv["device"]) == \
        ("conv2d", "conv1.0", "own", "relu", "DPU")
    assert "BatchNorm conv1.1 folded in" in conv["reason"]
    assert nodes["sigmoid"]["quant"] == "float" and nodes["sigmoid"]["device"] == "CPU"
    (flat,) = [n for n in report["nodes"] if n["kind"] == "flatten"]     # torch < 2.6 names it 'view'
    assert flat["quant"] == "shared" and flat["device"] == "DPU"
    assert nodes["x"]["kind"] == "input" and nodes["x"]["device"] == "-"
    s = report["summary"]
    lines = s.pop("placement_summary")
    assert s == {"ops": 11, "own": 8, "shared": 1, "float": 2, "dpu": 9, "cpu": 2, "dpu_subgraphs": 2}
    assert lines[0].startswith("estimated: 2 DPU subgraph(s)") and any("FLOAT_OP x2" in ln for ln in lines)
    assert "convert_sigmoid_to_hsigmoid" in r.stdout
    r = run(["inspect", "--model", "zoo:ffn", "--quiet", "--json", tmp_path / "ffn.json"])
    assert r.stdout == ""
    ffn = json.loads((tmp_path / "ffn.json").read_text())
    assert ffn["target"] is None and "device" not in ffn["nodes"][1]
    assert [n["act"] for n in ffn["nodes"] if n["kind"] == "inner-product"] == ["relu", "relu", None]


def test_inspect_layer_exclusion_from_config(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"layer_quantize_config": [{"layer_name": "fc3", "quantizable": False}]}))
    run(["inspect", "--model", "zoo:ffn", "--config", cfg, "--json", tmp_path / "n.json", "-q"])
    rows = {n["scope"]: n for n in json.loads((tmp_path / "n.json").read_text())["nodes"]}
    assert rows["fc3"]["quant"] == "float" and "excluded by layer_quantize_config" in rows["fc3"]["reason"]


def _conv(name, cin, cout, k, groups=1, stride=1, act=None):
    w = torch.zeros(cout, cin // groups, k, k)
    return Node(name, "conv2d", ["x"], {"stride": (stride, stride), "padding": (k // 2, k // 2),
                                        "dilation": (1, 1), "groups": groups}, {"weight": w}, act=act, quant="own",
                act_attrs={"alpha": 0.1} if act == "leaky-relu" else {})


def _judge(node, target, hw=8):
    """``placement`` of ``node`` in a graph where it reads inputs of its channel count and ``hw`` pixels."""
    w = node.params.get("weight")
    c = int(w.shape[1]) * int(node.attrs.get("groups", 1)) if w is not None else 8
    ins = [Node(i, "input", quant="own", shape=(1, c, hw, hw)) for i in node.inputs]
    return placement(node, target, CanonicalView(QGraph("g", ins + [node], list(node.inputs), [node.name])))


def test_placement_follows_target_limits():
    kv260 = load_target("DPUCZDX8G/KV260")
    assert _judge(_conv("c", 16, 32, 3, act="relu"), kv260) == ("DPU", "within the target's limits")
    dev, why = _judge(_conv("big", 16, 32, 17), kv260)
    assert (dev, why) == ("CPU", "KERNEL_TOO_LARGE: conv kernel 17x17 exceeds the target's 16")
    dev, why = _judge(_conv("s", 16, 32, 3, stride=9), kv260)
    assert dev == "CPU" and "stride 9" in why
    dev, why = _judge(_conv("dw", 32, 32, 3, groups=32, act="leaky-relu"), kv260)
    assert dev == "CPU" and why.startswith("ACTIVATION:") and "cannot apply LEAKYRELU" in why
    assert _judge(_conv("dw", 32, 32, 3, groups=32, act="relu6"), kv260)[0] == "DPU"
    dev, why = _judge(_conv("deep", 16 * 2049, 8, 1), kv260)
    assert dev == "CPU" and why.startswith("WEIGHTS_EXCEED_BANK:")
    pool = Node("p", "maxpool2d", ["x"], {"kernel": (12, 12), "stride": (12, 12), "padding": (0, 0),
                                      "ceil_mode": False}, quant="shared")
    assert _judge(pool, kv260, 300)[0] == "DPU"                          # beyond the pool engine, within the ALU
    pool.attrs["kernel"] = (300, 300)
    assert _judge(pool, kv260, 300)[0] == "CPU"
    add = Node("a", "add", ["x", "y"], act="relu", quant="own")
    assert _judge(add, kv260)[0] == "DPU"
    assert _judge(Node("t", "torch", ["x"], quant="float", reason="atan2 has no DPU/XIR equivalent"),
                  kv260) == ("CPU", "atan2 has no DPU/XIR equivalent")
    ipu = load_target("IPU_PHX/AMD_AIE2_Nx4_Overlay_cfg0")
    assert _judge(_conv("c", 16, 32, 3), ipu) == ("CPU", f"{ipu.name} is not a compilable DPU target")
    g = QGraph("g", [Node("x", "input", quant="own", shape=(1, 16, 8, 8)), _conv("c", 16, 32, 3)], ["x"], ["c"])
    rows = inspect_rows(g, kv260)
    assert [(r["name"], r["device"]) for r in rows] == [("x", "-"), ("c", "DPU")]


@pytest.mark.parametrize("rounding, has_floor", [("exact", True), ("qdq", False)])
def test_onnx_rounding_option(tmp_path, ffn_data, rounding, has_floor):
    """--onnx-rounding exact writes the Floor-based DPU rounding before each QuantizeLinear; qdq writes
    plain Q/DQ pairs (no Floor)."""
    import onnx
    out = tmp_path / "out"
    run(["quantize", "--model", "zoo:ffn", "--calib-data", ffn_data, "--output", out, "--no-torchscript",
         "--onnx-rounding", rounding, "--quiet"])
    kinds = {n.op_type for n in onnx.load(str(out / "FFN_int.onnx")).graph.node}
    assert "QuantizeLinear" in kinds and ("Floor" in kinds) == has_floor
