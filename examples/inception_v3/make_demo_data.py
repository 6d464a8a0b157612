"""Demo data for the example, so the flow runs without ImageNet: an ImageNet-style folder of
synthetic JPEGs (one sub-folder per class) and a generated checkpoint with the keys and shapes of
torchvision's ``inception_v3_google-0cc3c7bd.pth`` (the auxiliary head included, as in that file),
or the zoo model's own keys for a config with ``checkpoint_names: native``."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from config import load_config  # noqa: E402

AUX_SHAPES = {"AuxLogits.conv0.conv.weight": (128, 768, 1, 1), "AuxLogits.conv1.conv.weight": (768, 128, 5, 5)}


def _aux(num_classes: int, gen: torch.Generator) -> dict:
    """torchvision's InceptionAux entries (conv0: 768->128 1x1, conv1: 128->768 5x5, fc: 768->classes)."""
    out = {}
    for unit, c in (("conv0", 128), ("conv1", 768)):
        out[f"AuxLogits.{unit}.conv.weight"] = torch.randn(AUX_SHAPES[f"AuxLogits.{unit}.conv.weight"], generator=gen) * 0.02
        out[f"AuxLogits.{unit}.bn.weight"] = torch.ones(c)
        out[f"AuxLogits.{unit}.bn.bias"] = torch.zeros(c)
        out[f"AuxLogits.{unit}.bn.running_mean"] = torch.zeros(c)
        out[f"AuxLogits.{unit}.bn.running_var"] = torch.ones(c)
        out[f"AuxLogits.{unit}.bn.num_batches_tracked"] = torch.tensor(0)
    out["AuxLogits.fc.weight"] = torch.randn(num_classes, 768, generator=gen) * 0.01
    out["AuxLogits.fc.bias"] = torch.zeros(num_classes)
    return out


def make_checkpoint(cfg: dict, path: Path, seed: int = 0) -> None:
    from vaiq.zoo import MODELS, calibrate_bn_stats
    from vaiq.zoo.inception import torchvision_names
    model = MODELS[cfg["model"]].factory(num_classes=int(cfg["num_classes"]), seed=seed)
    calibrate_bn_stats(model, (2, *cfg["input_shape"]), batches=1, seed=seed)
    with torch.no_grad():       # smaller logits than the seeded init gives: probabilities that are not all 0 or 1
        model.fc.weight.mul_(0.05)
    sd = model.state_dict()
    if cfg["checkpoint_names"] == "torchvision":
        names = torchvision_names()
        sd = {names[k]: v for k, v in sd.items()}
        sd.update(_aux(int(cfg["num_classes"]), torch.Generator().manual_seed(seed)))
    torch.save(sd, path)


def make_images(folder: Path, classes: int, per_class: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for c in range(classes):
        d = folder / f"n{1440764 + c:08d}"
        d.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            h, w = int(rng.integers(300, 420)), int(rng.integers(300, 420))
            yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
            base = np.stack([np.sin(6 * xx * (c + 1)), np.cos(5 * yy * (k + 1)), xx * yy], -1)
            img = (base * 0.5 + 0.5) * 200 + rng.normal(0, 20, (h, w, 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / f"ILSVRC2012_val_{c * per_class + k:08d}.JPEG",
                                                                      quality=90)


@click.command()
@click.argument("out_dir")
@click.option("--config", "config_path", default=str(HERE / "config.yaml"), show_default=True)
@click.option("--classes", default=3, show_default=True)
@click.option("--per_class", default=3, show_default=True)
def main(out_dir, config_path, classes, per_class):
    """Write OUT_DIR/imagenet_val/ (synthetic JPEGs) and OUT_DIR/<model>_demo.pth."""
    cfg = load_config(config_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    make_images(out / "imagenet_val", classes, per_class)
    ckpt = out / f"{cfg['model']}_demo.pth"
    make_checkpoint(cfg, ckpt)
    print(f"demo data: {out / 'imagenet_val'} ({classes * per_class} JPEGs), checkpoint {ckpt}")


if __name__ == "__main__":
    main()
