"""The digits CNN keeps its accuracy through int8 quantization (issue 3: drop <= 1 point)."""
import tempfile

import torch

from vaiq import torch_quantizer
from vaiq.zoo.digits import evaluate, load_digits_split, train_digits_cnn


def test_digits_int8_accuracy_within_one_point():
    model, float_acc = train_digits_cnn(seed=0)
    xtr, _, xte, yte = load_digits_split(seed=0)
    out = tempfile.mkdtemp()
    q = torch_quantizer("calib", model, (xtr[:1],), output_dir=out)
    with torch.no_grad():
        for i in range(0, 500, 100):
            q.quant_model(xtr[i:i + 100])
    q.export_quant_config()
    t = torch_quantizer("test", model, (xtr[:1],), output_dir=out)
    int8_acc = evaluate(t.quant_model, xte, yte)
    assert float_acc >= 0.95
    assert float_acc - int8_acc <= 0.01, (float_acc, int8_acc)
