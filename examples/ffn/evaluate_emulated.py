"""The last step of the tutorial: run the compiled FFN on the emulated DPU over the whole test set and
print float vs quantized vs emulated MSE beside the board's estimated latency.

    python evaluate_emulated.py --model compile_output/ffn.xmodel [--data_dir data] [--checkpoint ffn.pth]
"""
from __future__ import annotations

from pathlib import Path

import click
import torch

from run import load_model, load_split, mse
from vaiq import torch_quantizer
from vairun import GraphRunner
from vairun.profiling import profile_model


@click.command()
@click.option("--model", "compiled", required=True, type=click.Path(path_type=Path), help="compiled .xmodel")
@click.option("--data_dir", default="data", show_default=True, type=click.Path(path_type=Path))
@click.option("--checkpoint", default="ffn.pth", show_default=True, type=click.Path(path_type=Path))
@click.option("--quant_dir", default="quantize_result", show_default=True)
def main(compiled: Path, data_dir: Path, checkpoint: Path, quant_dir: str) -> None:
    """Float vs quantized vs emulated test MSE, and the estimated DPU latency."""
    model = load_model(checkpoint)
    x_test, y_test = load_split(data_dir, "test")
    quantizer = torch_quantizer("test", model, (x_test[:1],), output_dir=quant_dir)
    runner = GraphRunner(compiled)
    emulated = torch.from_numpy(next(iter(runner.run([x_test.numpy()]).values())))
    emu_mse = float(((emulated - y_test) ** 2).sum()) / len(x_test)
    with torch.no_grad():
        same = torch.equal(quantizer.quant_model(x_test), emulated)
    p = profile_model(runner.model)
    click.echo(f"test MSE  float {mse(model, x_test, y_test):.6f}  quantized {mse(quantizer.quant_model, x_test, y_test):.6f}"
               f"  emulated {emu_mse:.6f}  (emulator == quantizer bit for bit: {same})")
    click.echo(f"{runner.target.name} on {runner.target.board}: {p.cycles} cycles per inference, "
               f"{p.latency_ms * 1e3:.1f} us latency, {p.fps:.0f} inferences/s across {runner.target.cores} cores")


if __name__ == "__main__":
    main()
