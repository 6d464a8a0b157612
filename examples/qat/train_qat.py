"""Quantization-aware training of the digits CNN with vaiq's QatProcessor (pytorch_nndct's QAT API).

    python train_qat.py --bits 4 --epochs 8 --output_dir qat_result
    vaic -x qat_result/DigitsCNN_int.xmodel -a DPUCZDX8G/KV260 -o compile_output -n digits

A float model is trained first (seconds), then trained again with quantization in the loop; the
deployable model written to --output_dir computes, bit for bit, what the compiled model computes on
the DPU emulator. A second run can rebuild it with --deploy_only (qat.deployable_model).
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from vaiq import QatProcessor
from vaiq.zoo import DigitsCNN, evaluate, load_digits_split, train_digits_cnn


def train_one_epoch(model, x, y, optimizer, batch_size, gen):
    model.train()
    order = torch.randperm(len(y), generator=gen)
    total = 0.0
    for i in range(0, len(order), batch_size):
        b = order[i:i + batch_size]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x[b]), y[b])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(b)
    return total / len(y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch_size", type=int, default=64)
    ap.add_argument("--output_dir", default="qat_result")
    ap.add_argument("--float_checkpoint", default="digits_float.pth")
    ap.add_argument("--deploy_only", action="store_true", help="rebuild the deployable model from --output_dir")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    x_tr, y_tr, x_te, y_te = load_digits_split(args.seed)

    if args.deploy_only:                               # a later run: the model and the QAT result folder
        model = DigitsCNN(seed=args.seed)
        model.load_state_dict(torch.load(args.float_checkpoint, weights_only=True))
        qat = QatProcessor(model.eval(), (x_tr[:1],), bitwidth=args.bits)
        deployable = qat.deployable_model(args.output_dir, used_for_xmodel=True)
        print(f"deployable model accuracy: {100 * evaluate(deployable, x_te, y_te):.2f}%")
        print("wrote", qat.export_xmodel(args.output_dir))
        return

    model, float_acc = train_digits_cnn(epochs=10, seed=args.seed)
    torch.save(model.state_dict(), args.float_checkpoint)
    print(f"float accuracy: {100 * float_acc:.2f}%")

    qat = QatProcessor(model, (x_tr[:1],), bitwidth=args.bits)
    qmodel = qat.trainable_model(allow_reused_module=False)
    optimizer = torch.optim.Adam([                       # the recommended recipe (docs/vaiq.md)
        {"params": qmodel.quantizer_parameters(), "lr": 1e-3},      # the log2 thresholds
        {"params": qmodel.non_quantizer_parameters(), "lr": 1e-3}])  # weights, biases, BatchNorm
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):                   # the first forward pass is the warm-up
        if epoch == args.epochs // 2:
            qmodel.freeze_bn_stats()                   # the second half trains the deployed BatchNorm fold
        loss = train_one_epoch(qmodel, x_tr, y_tr, optimizer, args.batch_size, gen)
        scheduler.step()
        print(f"QAT epoch {epoch + 1}: loss {loss:.4f}, accuracy {100 * evaluate(qmodel, x_te, y_te):.2f}% "
              "(fake-quantized)")

    deployable = qat.to_deployable(qmodel, output_dir=args.output_dir)   # quant_info.json + qat_param.pth
    print(f"deployable model accuracy: {100 * evaluate(deployable, x_te, y_te):.2f}%")
    print("wrote", qat.export_xmodel(output_dir=args.output_dir))


if __name__ == "__main__":
    main()
