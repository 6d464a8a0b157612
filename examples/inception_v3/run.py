"""WeGO-Torch's dynamo example for Inception-v3, on this project.

    python run.py --phase quantize --float_model_path inception_v3_google-0cc3c7bd.pth \
        --calibration_images_folder imagenet/val --quant_result_path quant_result [--calib_set_len 200]
    python run.py --phase compile --float_model_path inception_v3_google-0cc3c7bd.pth \
        --quant_result_path quant_result [IMAGE_OR_FOLDER]

quantize: vaiq calibrates the float model (dynamo=True) on the first ``calib_set_len`` images and
writes quant_info.json; compile: wego_torch compiles the float model with that result (DPU regions on
vairun's emulator, the rest in torch) and prints the top-5 classes of each image. Bad input is one
line on stderr and exit code 2 (``--debug`` shows the traceback).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from config import ConfigError, load_config  # noqa: E402
from data import DataError, batches, find_images  # noqa: E402


class CheckpointError(ValueError):
    pass


def build_model(cfg: dict, checkpoint) -> torch.nn.Module:
    """The zoo model of config.yaml with the checkpoint's weights (``torch.load(weights_only=True)``)."""
    from vaiq.zoo import MODELS
    from vaiq.zoo.inception import load_torchvision_state_dict
    if cfg["model"] not in MODELS:
        raise ConfigError(f"config model {cfg['model']!r} is not a zoo model; known: {', '.join(MODELS)}")
    p = Path(checkpoint)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many exception types for a bad file
        raise CheckpointError(f"{p}: cannot load the checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{p}: holds a {type(state).__name__}, not a state dict")
    model = MODELS[cfg["model"]].factory(num_classes=int(cfg["num_classes"]), seed=0)
    try:
        if cfg["checkpoint_names"] == "torchvision":
            if cfg["model"] != "inception_v3":
                raise ConfigError("checkpoint_names: torchvision is defined for inception_v3 only")
            load_torchvision_state_dict(model, state)
        else:
            load_native(model, state)
    except ValueError as e:
        if isinstance(e, ConfigError):
            raise
        raise CheckpointError(f"{p}: {e}") from None
    return model.eval()


def load_native(model: torch.nn.Module, state: dict) -> None:
    have = model.state_dict()
    for k, v in state.items():
        if k not in have:
            raise ValueError(f"checkpoint key '{k}' is not a parameter of the model")
        if not isinstance(v, torch.Tensor) or v.shape != have[k].shape:
            raise ValueError(f"checkpoint key '{k}' has shape {tuple(getattr(v, 'shape', ()))}, "
                             f"the model's is {tuple(have[k].shape)}")
    missing = [k for k in have if k not in state]
    if missing:
        raise ValueError(f"checkpoint lacks key '{missing[0]}'")
    model.load_state_dict(state)


def quantize(cfg, model, folder, out, calib_set_len: int) -> None:
    from rich.progress import Progress
    from vaiq import torch_quantizer
    images = find_images(folder)[:calib_set_len]
    x = torch.zeros(1, *cfg["input_shape"])
    q = torch_quantizer("calib", model, (x,), output_dir=str(out), dynamo=True)
    with torch.no_grad(), Progress(transient=True, disable=not sys.stdout.isatty()) as bar:
        task = bar.add_task("calibrating", total=len(images))
        for chunk, xb in batches(images, cfg):
            q.quant_model(xb)
            bar.advance(task, len(chunk))
    path = q.export_quant_config()
    print(f"calibrated on {len(images)} image(s); quantization result: {path}")


def compile_run(cfg, model, quant_result, images_arg, target) -> None:
    import wego_torch
    images = find_images(images_arg) if images_arg else []
    opts = wego_torch.CompileOptions(
        dynamo=True, dynamo_options=wego_torch.DynamoCompileOptions(quantize_result_path=str(quant_result)),
        inputs_meta=[wego_torch.InputMeta(torch.float, [1, *cfg["input_shape"]])], target=target)
    wego_mod = wego_torch.compile(model, opts)
    if not images:
        print("no image given: compiled only (give an image or a folder to classify)")
        return
    with torch.no_grad():
        for chunk, xb in batches(images, cfg):
            probs = torch.softmax(wego_mod(xb), dim=1)
            top = torch.topk(probs, k=min(5, probs.shape[1]), dim=1)
            for path, p, i in zip(chunk, top.values, top.indices):
                print(f"{path}")
                for rank, (pv, iv) in enumerate(zip(p.tolist(), i.tolist()), 1):
                    print(f"  top-{rank}: class {iv:4d}  probability {pv:.4f}")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--phase", type=click.Choice(["quantize", "compile"]), required=True)
@click.option("--float_model_path", required=True, help="float checkpoint (a state dict)")
@click.option("--calibration_images_folder", default=None, help="ImageNet-style folder (quantize phase)")
@click.option("--quant_result_path", default="quant_result", show_default=True)
@click.option("--calib_set_len", default=200, show_default=True, type=click.IntRange(1))
@click.option("--config", "config_path", default=str(HERE / "config.yaml"), show_default=True)
@click.option("--target", default=None, help="arch name or path (default: WEGO_TARGET or DPUCZDX8G/KV260)")
@click.option("--debug", is_flag=True, help="show tracebacks")
@click.argument("image", required=False)
def main(phase, float_model_path, calibration_images_folder, quant_result_path, calib_set_len, config_path,
         target, debug, image):
    """Quantize (phase quantize) or compile and run (phase compile) Inception-v3 with WeGO-Torch."""
    from vaiq import VaiqError
    from wego_torch import WegoError
    try:
        cfg = load_config(config_path)
        if cfg["crop"] != cfg["input_shape"][1] or cfg["crop"] != cfg["input_shape"][2]:
            raise ConfigError(f"{config_path}: crop {cfg['crop']} does not give input_shape {cfg['input_shape']}")
        model = build_model(cfg, float_model_path)
        if phase == "quantize":
            if not calibration_images_folder:
                raise click.UsageError("--phase quantize needs --calibration_images_folder")
            quantize(cfg, model, calibration_images_folder, quant_result_path, calib_set_len)
        else:
            compile_run(cfg, model, quant_result_path, image, target)
    except (ConfigError, DataError, CheckpointError, WegoError, VaiqError) as e:
        if debug:
            raise
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
