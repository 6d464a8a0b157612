"""Quantize the trained tutorial FFN with vaiq: the two-run calibrate / test workflow of vai_q_pytorch.

    python vai_q_pytorch_quant.py --quant_mode calib            # writes quantize_result/quant_info.json
    python vai_q_pytorch_quant.py --quant_mode test             # float vs quantized test MSE
    python vai_q_pytorch_quant.py --quant_mode test --deploy    # also FFN_int.xmodel / .onnx / .pt
"""

from __future__ import annotations

from pathlib import Path

import click
import torch

from run import load_model, load_split, mse
from vaiq import torch_quantizer


@click.command()
@click.option("--quant_mode", required=True, type=click.Choice(["calib", "test"]))
@click.option("--deploy", is_flag=True, help="Export xmodel, ONNX and TorchScript (test mode only).")
@click.option("--data_dir", default="data", show_default=True, type=click.Path(path_type=Path))
@click.option("--checkpoint", default="ffn.pth", show_default=True, type=click.Path(path_type=Path))
@click.option("--output_dir", default="quantize_result", show_default=True)
@click.option("--calib_size", default=1000, show_default=True, help="Training samples used to calibrate.")
@click.option("--batch_size", default=100, show_default=True)
def main(quant_mode, deploy, data_dir, checkpoint, output_dir, calib_size, batch_size) -> None:
    """Calibrate (calib) or evaluate and export (test) the quantized FFN."""
    if deploy and quant_mode != "test":
        raise click.UsageError("--deploy needs --quant_mode test")
    model = load_model(checkpoint)
    x_test, y_test = load_split(data_dir, "test")
    float_mse = mse(model, x_test, y_test)

    quantizer = torch_quantizer(
        quant_mode, model, (x_test[:1],), output_dir=output_dir, device=torch.device("cpu")
    )
    qmodel = quantizer.quant_model

    if quant_mode == "calib":
        x_calib, _ = load_split(data_dir, "train")
        x_calib = x_calib[:calib_size]
        with torch.no_grad():
            for i in range(0, len(x_calib), batch_size):
                qmodel(x_calib[i : i + batch_size])
        quantizer.export_quant_config()
        click.echo(f"calibrated on {len(x_calib)} samples, config in {output_dir}")
        return

    click.echo(f"test MSE float {float_mse:.6f}  quantized {mse(qmodel, x_test, y_test):.6f}")
    if deploy:
        with torch.no_grad():
            qmodel(x_test[:1])
        quantizer.export_xmodel(output_dir=output_dir, deploy_check=False)
        quantizer.export_onnx_model(output_dir=output_dir)
        quantizer.export_torch_script(output_dir=output_dir)
        click.echo(f"deployable models written to {output_dir}")


if __name__ == "__main__":
    main()
