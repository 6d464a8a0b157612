"""Image files as model inputs: which files of a folder are images, and how one is decoded.

Rules (shared by ``vaiq``'s calibration data and ``vairun eval``):
- image files are those with a suffix in :data:`IMAGE_SUFFIXES` (case-insensitive), found recursively,
  skipping hidden files and folders, in sorted relative-path order;
- decoding (Pillow) converts to RGB (3 channels) or grayscale (1 channel) and returns float32
  H x W x C scaled to [0, 1];
- ``fit="resize"`` resizes straight to H x W (bilinear); ``fit="crop"`` is the ImageNet evaluation
  recipe: resize the shorter side to ``round(min(H, W) * 256 / 224)`` (bilinear), then take the
  centre H x W;
- ``normalize_imagenet`` subtracts the ImageNet per-channel mean and divides by the standard deviation
  (the constants torchvision's ImageNet models are trained with: mean 0.485 0.456 0.406, std 0.229
  0.224 0.225), on the last axis.
An unreadable file raises :class:`ImageError` naming it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import XirError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp"})
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
#: the ImageNet evaluation recipe resizes to 256 before a 224 centre crop
CROP_RATIO = 256 / 224


class ImageError(XirError):
    """An image file that cannot be read or decoded."""


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def image_files(folder: Path) -> list[Path]:
    """Every image file under ``folder`` (recursively, hidden ones skipped), in sorted relative-path order."""
    folder = Path(folder)
    return sorted((p for p in folder.rglob("*") if p.is_file() and is_image(p) and _visible(p, folder)),
                  key=lambda p: p.relative_to(folder).as_posix())


def read_image(path: Path, channels: int, height: int, width: int, fit: str = "resize") -> np.ndarray:
    """One image file as float32 ``height x width x channels`` in [0, 1] (see the module rules)."""
    try:
        from PIL import Image
    except ImportError:
        raise ImageError(f"{path}: reading images needs Pillow (pip install pillow); "
                         "or pass the data as .npy") from None
    if channels not in (1, 3):
        raise ImageError(f"{path}: images decode to 1 or 3 channels, the model wants {channels}")
    if fit not in ("resize", "crop"):
        raise ValueError(f"fit must be 'resize' or 'crop', got {fit!r}")
    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if channels == 3 else "L")
            if fit == "resize":
                im = im.resize((width, height), Image.Resampling.BILINEAR)
            else:
                short = round(min(height, width) * CROP_RATIO)
                scale = short / min(im.size)
                w, h = max(width, round(im.size[0] * scale)), max(height, round(im.size[1] * scale))
                im = im.resize((w, h), Image.Resampling.BILINEAR)
                left, top = (w - width) // 2, (h - height) // 2
                im = im.crop((left, top, left + width, top + height))
            a = np.asarray(im, dtype=np.float32) / 255.0
    except Exception as e:  # Pillow raises OSError, ValueError, DecompressionBombError, ...
        detail = (str(e).splitlines() or [""])[0]
        raise ImageError(f"{path}: cannot read the image ({type(e).__name__}: {detail})") from None
    return a if channels == 3 else a[:, :, None]


def normalize_imagenet(a: np.ndarray) -> np.ndarray:
    """``(a - mean) / std`` per channel on the last axis (3 channels), as float32."""
    if a.shape[-1] != 3:
        raise XirError(f"ImageNet normalisation needs 3 channels, the data has {a.shape[-1]}")
    return ((a - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)
