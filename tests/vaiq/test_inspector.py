"""``Inspector`` (vaiq.inspector): per-op device report ``inspect_<target>.txt`` and the device-coloured
graph picture (vaiq.graph_svg), with pytorch_nndct's names (vaiq.apis)."""
import logging
import re
import sys
import xml.etree.ElementTree as ET

import pytest
import torch
import torch.nn as nn

from vaiq import Inspector, VaiqError, torch_quantizer
from vaiq.graph_svg import BOX_W, COLOURS, GAP_X, LANE_W, layout
from vaiq.nn import DeQuantStub, QuantStub
from test_target_aware import Mixed

SVG = "{http://www.w3.org/2000/svg}"


def _x():
    return torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def _boxes(svg_path):
    root = ET.parse(svg_path).getroot()
    out = {}
    for g in root.iter(f"{SVG}g"):
        title = g.find(f"{SVG}title").text
        out[title.split(" ", 1)[0]] = (g.find(f"{SVG}rect").get("fill"), title)
    return root, out


def test_report_and_svg_for_a_partly_supported_model(tmp_path, capsys):
    torch.manual_seed(0)
    model = Mixed().eval()
    path = Inspector("DPUCAHX8H/U50").inspect(model, (_x(),), output_dir=str(tmp_path), image_format="svg")
    assert path == tmp_path / "inspect_DPUCAHX8H_ISA2.txt"
    text = path.read_text()
    q = torch_quantizer("float", model, (_x(),), target="DPUCAHX8H/U50")
    rows = {ln.split()[1]: ln for ln in text.splitlines() if re.match(r"\d+ ", ln)}
    assert set(rows) == {n.name for n in q.graph.nodes}
    for n in q.graph.nodes:                   # the report's devices are the target-aware quantizer's decisions
        device = rows[n.name].split()[4]
        assert device == ("-" if n.kind == "input" else "CPU" if n.quant == "float" else "DPU"), n.name
    dw = next(n for n in q.graph.nodes if n.scope == "dw")
    assert "NO_ENGINE: the target has no depthwise engine" in rows[dw.name]
    assert "# target: DPUCAHX8H_ISA2 (fingerprint 0x" in text
    assert re.search(r"estimated: \d+ DPU subgraph\(s\), \d+ CPU subgraph\(s\), 3 op\(s\) on the CPU", text)
    assert "NO_ENGINE x3" in text
    out = capsys.readouterr().out                               # verbose_level 1: the summary
    assert "NO_ENGINE x3" in out and "within the target's limits" not in out
    _, boxes = _boxes(tmp_path / "inspect_DPUCAHX8H_ISA2.svg")
    assert set(boxes) == set(rows)
    for n in q.graph.nodes:
        fill, title = boxes[n.name]
        assert fill == COLOURS["-" if n.kind == "input" else "CPU" if n.quant == "float" else "DPU"], n.name
    assert "NO_ENGINE" in boxes[dw.name][1]


def test_stub_regions_show_in_the_report(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), QuantStub(), nn.Conv2d(4, 4, 3), DeQuantStub()).eval()
    text = Inspector("DPUCZDX8G_ISA1_B4096").inspect(model, (_x(),), output_dir=str(tmp_path),
                                                   verbose_level=0).read_text()
    first = next(ln for ln in text.splitlines() if ln.startswith("1 "))
    assert "CPU" in first and "outside the QuantStub/DeQuantStub regions" in first
    assert re.search(r"^2 .* DPU ", text, re.M)


@pytest.mark.parametrize("name, nodes", [("tiny_resnet", 10), pytest.param("resnet50", 70, marks=pytest.mark.slow),
                                         ("tiny_inception", 10)])
def test_zoo_pictures_are_laid_out_without_overlaps(tmp_path, name, nodes):
    from vaiq.zoo import MODELS, get_model
    ins = Inspector("DPUCZDX8G/KV260")
    ins.inspect(get_model(name), (torch.zeros(MODELS[name].input_shape),), output_dir=str(tmp_path),
                verbose_level=0, image_format="svg")
    root, boxes = _boxes(tmp_path / "inspect_DPUCZDX8G_ISA1_B4096.svg")
    assert len(boxes) == len(ins.rows) > nodes
    assert float(root.get("width")) < 1200                     # a column a person scrolls, not a wide strip
    pos, lanes = layout(ins.rows)
    items = [(layer, x, BOX_W) for x, layer in pos.values()]
    items += [(pos[src][1] + 1 + k, x, LANE_W) for (src, _), xs in lanes.items() for k, x in enumerate(xs)]
    by_layer = {}
    for layer, x, w in items:
        by_layer.setdefault(layer, []).append((x, w))
    for layer, row in by_layer.items():                         # nothing overlaps, no edge runs through a box
        row.sort()
        for (xa, wa), (xb, wb) in zip(row, row[1:]):
            assert xb - xa >= (wa + wb) / 2 + GAP_X - 1e-6, layer


def test_png_needs_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "resvg_py", None)
    with pytest.raises(VaiqError, match=r"optional extra 'png'.*vitis-ai-py\[png\]"):
        Inspector("DPUCZDX8G/KV260").inspect(Mixed().eval(), (_x(),), output_dir=str(tmp_path), image_format="png",
                                             verbose_level=0)
    assert not list(tmp_path.glob("inspect_*"))                # nothing half-written


def test_png_with_the_extra(tmp_path):
    pytest.importorskip("resvg_py")
    Inspector("DPUCZDX8G/KV260").inspect(Mixed().eval(), (_x(),), output_dir=str(tmp_path), image_format="png",
                                         verbose_level=0)
    assert (tmp_path / "inspect_DPUCZDX8G_ISA1_B4096.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments(tmp_path):
    with pytest.raises(VaiqError, match=r"unknown target 'NO_SUCH_DPU'; known: .*DPUCZDX8G/KV260"):
        Inspector("NO_SUCH_DPU")
    with pytest.raises(VaiqError, match="image_format 'jpg'"):
        Inspector("DPUCZDX8G/KV260").inspect(Mixed().eval(), (_x(),), output_dir=str(tmp_path), image_format="jpg")


def test_cuda_without_cuda_falls_back_to_cpu(tmp_path, caplog):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with caplog.at_level(logging.INFO, logger="vaiq"):
        Inspector("DPUCZDX8G/KV260").inspect(Mixed().eval(), (_x(),), device=torch.device("cuda"),
                                             output_dir=str(tmp_path), verbose_level=0)
    assert "CUDA is not available" in caplog.text


NNDCT_SCRIPT = '''
import torch
from pytorch_nndct.apis import torch_quantizer, Inspector
from pytorch_nndct.nn import QuantStub, DeQuantStub

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant_stub, self.dequant_stub = QuantStub(), DeQuantStub()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8 * 8 * 8, 4)

    def forward(self, x):
        x = self.dequant_stub(torch.relu(self.conv(self.quant_stub(x))))
        return self.fc(torch.flatten(x, 1))

model = Net().eval()
x = torch.randn(1, 3, 8, 8)
inspector = Inspector("DPUCZDX8G_ISA1_B4096")
inspector.inspect(model, (x,), device=torch.device("cpu"), output_dir=OUT, verbose_level=0)
quantizer = torch_quantizer("calib", model, (x,), output_dir=OUT, target="DPUCZDX8G_ISA1_B4096")
quant_model = quantizer.quant_model
for _ in range(2):
    quant_model(torch.randn(4, 3, 8, 8))
quantizer.export_quant_config()
quantizer = torch_quantizer("test", model, (x,), output_dir=OUT, target="DPUCZDX8G_ISA1_B4096")
quantizer.quant_model(x)
quantizer.export_xmodel(output_dir=OUT, deploy_check=False)
'''


def test_an_nndct_script_runs_with_only_its_import_lines_changed(tmp_path):
    script = NNDCT_SCRIPT.replace("from pytorch_nndct.apis import", "from vaiq.apis import") \
                         .replace("from pytorch_nndct.nn import", "from vaiq.nn import")
    exec(compile(script, "nndct_script", "exec"), {"OUT": str(tmp_path), "__name__": "nndct_script"})
    names = {p.name for p in tmp_path.iterdir()}
    assert {"inspect_DPUCZDX8G_ISA1_B4096.txt", "quant_info.json", "Net_int.xmodel"} <= names
