"""QAT's promise: after freeze_quant() the trainable model in eval mode, the deployable model, vaiq's
test-mode quant_model loaded from the QAT result and the DPU emulator running the vaic-compiled xmodel
give identical outputs (zero differing elements), for zoo models at 8 and 4 bits."""
import warnings

import pytest
import torch

from flow import assert_emulator_equals
from vaiq import QatProcessor, torch_quantizer
from vaiq.qat.tqt import fix_pos
from vaiq.quant_info import node_key, param_key, read
from vaiq.zoo import MODELS, get_model


def _outs(y):
    return list(y) if isinstance(y, (tuple, list)) else [y]


def qat_train(name, bits, steps=3, batch=8, seed=0):
    """A QatProcessor and its trainable model after ``steps`` Adam steps on random data (warm-up first)."""
    model, shape = get_model(name), MODELS[name].input_shape
    gen = torch.Generator().manual_seed(seed)
    qat = QatProcessor(model, (torch.randn(*shape, generator=gen),), bitwidth=bits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # reused modules (tiny_resnext, tiny_yolo) warn
        qm = qat.trainable_model(allow_reused_module=True)
    opt = torch.optim.Adam([{"params": qm.quantizer_parameters(), "lr": 1e-2},
                            {"params": qm.non_quantizer_parameters(), "lr": 1e-3}])
    qm.train()
    for _ in range(steps + 1):                 # the first pass is the warm-up
        loss = sum(y.square().mean() for y in _outs(qm(torch.randn(batch, *shape[1:], generator=gen))))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return qat, qm, model, shape


def check_promise(name, bits, tmp_path):
    qat, qm, model, shape = qat_train(name, bits)
    qm.freeze_quant()
    qm.eval()
    x = torch.randn(3, *shape[1:], generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        frozen = _outs(qm(x))
        out = tmp_path / "qat_result"
        deployed = _outs(qat.to_deployable(qm, str(out))(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")         # no "model changed since calibration" warning
        q = torch_quantizer("test", model, (torch.randn(*shape),), output_dir=str(out))
    with torch.no_grad():
        tested = _outs(q.quant_model(x))
    for a, b, c in zip(frozen, deployed, tested):
        assert int((a != b).sum()) == 0 and int((b != c).sum()) == 0
    assert q.table.violations() == []
    assert_emulator_equals(q, "DPUCZDX8G/KV260", tmp_path / "compiled", x)
    # the frozen thresholds stand for the positions written to quant_info.json
    info = read(out / "quant_info.json")
    for root, key in qm._act_key.items():
        entry = info["output"].get(node_key(q.graph, root)) or info["input"].get(node_key(q.graph, root))
        if entry is not None:
            assert entry[0] == [bits, fix_pos(getattr(qm.thresholds, key), bits)]
    for n in qm._quantized_layers:
        assert info["param"][param_key(q.graph, n, "weight")][0][1] == fix_pos(qm._w_t(n.name, "weight"), bits)
    assert_float_model_carries_the_trained_tensors(qat, qm, shape)
    # the exported xmodel of the processor is the one test mode exports
    assert qat.export_xmodel(str(out)).exists()
    return qm, q


@pytest.mark.parametrize("name, bits", [("digits_cnn", 8), ("tiny_mobilenet", 4)])
def test_frozen_deployable_test_mode_and_emulator_agree(name, bits, tmp_path):
    check_promise(name, bits, tmp_path)


ZOO = ["digits_cnn", "tiny_resnet", "tiny_mobilenet", "tiny_inception", "tiny_squeezenet", "leaky_net",
       "partial_net", "tiny_efficientnet", "tiny_mobilenet_v3", "tiny_shufflenet", "tiny_mnasnet", "tiny_regnet",
       "tiny_resnext", "tiny_yolo", "tiny_unet"]


@pytest.mark.slow
@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("name", ZOO)
def test_zoo_promise(name, bits, tmp_path):
    check_promise(name, bits, tmp_path)


def test_trained_twin_stays_close_to_the_exact_model(tmp_path):
    """The fake-quantized training forward (frozen thresholds, running BatchNorm statistics) is the
    differentiable twin of the exact model: it differs from it at most by float32 rounding, i.e. on a
    small share of elements by one quantization step of the output."""
    qat, qm, model, shape = qat_train("tiny_mobilenet", 8)      # depthwise, residual add, hard-swish
    table = qm.freeze_quant()
    x = torch.randn(8, *shape[1:], generator=torch.Generator().manual_seed(3))
    qm.eval()
    exact = qm(x)
    qm.train()
    qm.freeze_bn_stats()
    with torch.no_grad():
        twin = qm(x)
    step = 2.0 ** -table.get(qm.graph.outputs[0])
    diff = (twin - exact).abs() / step
    assert float(diff.max()) <= 1.0
    assert float((diff > 0).float().mean()) < 0.05


def test_batchnorm_statistics_train_until_frozen(tmp_path):
    qat, qm, model, shape = qat_train("digits_cnn", 8, steps=1)
    rm = [b for k, b in qm.weights.named_buffers() if k.endswith("running_mean")]
    before = [b.clone() for b in rm]
    qm.train()
    qm(torch.randn(8, *shape[1:]))
    assert all(not torch.equal(a, b) for a, b in zip(before, rm))
    qm.freeze_bn_stats()
    before = [b.clone() for b in rm]
    qm(torch.randn(8, *shape[1:]))
    assert all(torch.equal(a, b) for a, b in zip(before, rm))


def test_fuse_conv_bn_keeps_the_model_and_the_promise(tmp_path):
    qat, qm, model, shape = qat_train("tiny_mobilenet", 8, steps=1)
    x = torch.randn(4, *shape[1:], generator=torch.Generator().manual_seed(2))
    qm.eval()
    with torch.no_grad():
        before = qm(x)
        qm.fuse_conv_bn()
        after = qm(x)
    assert float((before - after).abs().max()) < 1e-5
    assert all("bn_eps" not in n.attrs for n in qm.graph.nodes if not n.attrs.get("from_bn"))
    qm.train()
    opt = torch.optim.Adam(qm.non_quantizer_parameters(), lr=1e-3)
    qm(x).square().mean().backward()
    opt.step()
    qm.eval()
    qm.freeze_quant()
    with torch.no_grad():
        frozen = qm(x)
        deployed = qat.to_deployable(qm, str(tmp_path / "r"))(x)
    assert int((frozen != deployed).sum()) == 0
    assert_float_model_carries_the_trained_tensors(qat, qm, shape)


def assert_float_model_carries_the_trained_tensors(qat, qm, shape):
    """The float model the exports carry (TorchScript's float program) folds to the deployed tensors."""
    from vaiq.capture import capture
    from vaiq.prepare import prepare
    g = prepare(capture(qat._export_model(), (torch.randn(*shape),)))
    want = qm.deploy_params()
    for n in g.nodes:
        for k, v in n.params.items():
            assert torch.equal(v, want[n.name][k]), f"{n.name}.{k}"


@pytest.mark.slow
def test_training_with_qat_beats_ptq_at_4_bits(tmp_path):
    """Two QAT epochs on the trained digits CNN at 4 bits lift the deployable model's accuracy above PTQ's."""
    from vaiq.zoo import evaluate, load_digits_split, train_digits_cnn
    x_tr, y_tr, x_te, y_te = load_digits_split(0)
    model, _ = train_digits_cnn(epochs=6, seed=0)
    q = torch_quantizer("calib", model, (x_tr[:1],), output_dir=str(tmp_path / "ptq"), bitwidth=4)
    with torch.no_grad():
        q.quant_model(x_tr[:512])
    q.export_quant_config()
    ptq = evaluate(torch_quantizer("test", model, (x_tr[:1],), output_dir=str(tmp_path / "ptq"),
                                   bitwidth=4).quant_model, x_te, y_te)
    qat = QatProcessor(model, (x_tr[:1],), bitwidth=4)
    qm = qat.trainable_model(calib_dir=str(tmp_path / "ptq"))
    opt = torch.optim.Adam([{"params": qm.quantizer_parameters(), "lr": 1e-2},
                            {"params": qm.non_quantizer_parameters(), "lr": 1e-3}])
    gen = torch.Generator().manual_seed(0)
    qm.train()
    for _ in range(2):
        order = torch.randperm(len(y_tr), generator=gen)
        for i in range(0, len(order), 64):
            b = order[i:i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(qm(x_tr[b]), y_tr[b]).backward()
            opt.step()
    acc = evaluate(qat.to_deployable(qm, str(tmp_path / "qat")), x_te, y_te)
    assert acc > ptq
