"""Images for the example: an image file or a folder (an ImageNet validation layout, one sub-folder
per class holding JPEGs, or plain images), preprocessed as config.yaml says: shorter side resized,
centre crop, scaled to [0, 1], normalised with mean/std, NCHW float32."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


class DataError(ValueError):
    pass


def find_images(path) -> list[Path]:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such image or folder")
    if p.is_file():
        return [p]
    found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in EXTENSIONS)
    if not found:
        raise DataError(f"{p}: holds no images ({', '.join(EXTENSIONS)}); give an ImageNet-style folder "
                        "(one sub-folder per class holding JPEGs) or an image file")
    return found


def load_image(path: Path, cfg: dict) -> torch.Tensor:
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = cfg["resize"] / min(w, h)
            im = im.resize((max(cfg["crop"], round(w * s)), max(cfg["crop"], round(h * s))), Image.BILINEAR)
            w, h = im.size
            left, top = (w - cfg["crop"]) // 2, (h - cfg["crop"]) // 2
            im = im.crop((left, top, left + cfg["crop"], top + cfg["crop"]))
            a = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{path}: cannot read the image ({type(e).__name__}: {e})") from None
    a = (a - np.asarray(cfg["mean"], np.float32)) / np.asarray(cfg["std"], np.float32)
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))


def batches(paths: list[Path], cfg: dict):
    """(paths, NCHW tensor) per batch of ``batch_size`` images."""
    n = int(cfg["batch_size"])
    for i in range(0, len(paths), n):
        chunk = paths[i:i + n]
        yield chunk, torch.stack([load_image(p, cfg) for p in chunk])
