"""Calibration and evaluation data for the ``vaiq`` command line.

Sources (``sample`` is ``--input-shape`` without its batch dimension):
- ``.npy``: an array ``N x sample`` (memory-mapped, so large files are read batch by batch);
- ``.npz``: the array under key ``x`` (else the first array of the file), optional labels ``y``
  (one per sample);
- a folder of images (``.png .jpg .jpeg .bmp .gif .ppm .pgm .tif .tiff .webp``, searched recursively,
  in sorted path order; other files are ignored), read with Pillow: converted to RGB (C = 3) or
  grayscale (C = 1), resized to H x W with bilinear filtering, scaled to [0, 1], laid out C x H x W.
  No mean/std normalisation: a model that expects it takes a ``.npy``/``.npz`` prepared beforehand.
Arrays: ``uint8`` data is scaled by 1/255 like images; other numeric dtypes are converted to float32
as they are; 4-D samples stored H x W x C (NHWC) are transposed to C x H x W. ``limit`` keeps the
first N samples. Bad data (missing, unreadable, empty, wrong per-sample shape, NaN/Inf) raises
:class:`VaiqError` with one line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from xir.arrays import npz_keys, open_npy, read_npz_array
from xir.errors import FileError
from xir.images import IMAGE_SUFFIXES, ImageError, image_files
from xir.images import read_image as _decode

from .errors import VaiqError


def _shape(s) -> str:
    return "x".join(str(d) for d in s)


@dataclass
class DataSet:
    """``n`` samples of shape ``sample``, read in batches; ``labels`` from an .npz ``y`` (or None)."""

    path: Path
    sample: tuple[int, ...]
    n: int
    array: np.ndarray | None = None
    files: list[Path] = field(default_factory=list)
    labels: np.ndarray | None = None
    nhwc: bool = False

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, np.ndarray | None]]:
        """(x float32 [B, *sample], labels of the batch or None), in order."""
        for start in range(0, self.n, batch_size):
            stop = min(start + batch_size, self.n)
            x = self._array_batch(start, stop) if self.array is not None else self._image_batch(start, stop)
            y = None if self.labels is None else self.labels[start:stop]
            yield x, y

    def num_batches(self, batch_size: int) -> int:
        return -(-self.n // batch_size)

    def _array_batch(self, start: int, stop: int) -> torch.Tensor:
        a = np.asarray(self.array[start:stop])
        a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
        if self.nhwc:
            a = a.transpose(0, 3, 1, 2)
        return torch.from_numpy(np.ascontiguousarray(a))

    def _image_batch(self, start: int, stop: int) -> torch.Tensor:
        return torch.from_numpy(np.stack([read_image(f, self.sample) for f in self.files[start:stop]]))


def read_image(path: Path, sample: tuple[int, ...]) -> np.ndarray:
    """One image file as float32 C x H x W in [0, 1] (decoded by xir.images, see the module docstring)."""
    c, h, w = sample
    try:
        a = _decode(path, c, h, w)
    except ImageError as e:
        raise VaiqError(str(e)) from None
    return a.transpose(2, 0, 1)


def _check_array(a: np.ndarray, path: Path, sample: tuple[int, ...], what: str) -> bool:
    """Validate an N x sample array; returns True when it is stored NHWC and needs a transpose."""
    if a.dtype.kind not in "biuf":
        raise VaiqError(f"{path}: {what} has dtype {a.dtype}; numeric data is needed")
    if a.ndim == 0 or a.shape[0] == 0:
        raise VaiqError(f"{path}: {what} holds no samples (empty calibration/evaluation set)")
    per = tuple(a.shape[1:])
    if per == sample:
        return False
    if len(sample) == 3 and per == (sample[1], sample[2], sample[0]):
        return True
    raise VaiqError(f"{path}: {what} has samples of shape {_shape(per) or 'scalar'} ({_shape(a.shape)} in all), "
                    f"but --input-shape needs {_shape(sample)} per sample (N x {_shape(sample)})")


def _check_finite(a: np.ndarray, path: Path, what: str, chunk: int = 256) -> None:
    if a.dtype.kind != "f":
        return
    for start in range(0, a.shape[0], chunk):
        part = np.asarray(a[start:start + chunk])
        ok = np.isfinite(part.reshape(part.shape[0], -1)).all(axis=1)
        if not ok.all():
            i = start + int(np.argmin(ok))
            raise VaiqError(f"{path}: {what} sample {i} contains NaN or Inf; clean the data or drop that sample")


def _load_array(path: Path):
    try:
        return _read_arrays(path)
    except FileError as e:               # the data module's errors are VaiqErrors
        raise VaiqError(str(e)) from None


def _read_arrays(path: Path):
    if path.suffix == ".npy":
        return open_npy(path, "data array"), None, "the array"
    keys = npz_keys(path, "data archive")
    if not keys:
        raise VaiqError(f"{path}: the .npz holds no arrays (empty calibration/evaluation set)")
    key = "x" if "x" in keys else keys[0]
    y = read_npz_array(path, "y", "data archive") if "y" in keys and key != "y" else None
    return read_npz_array(path, key, "data archive"), y, f"array '{key}'"


def open_data(path: Path, sample: tuple[int, ...], limit: int | None = None) -> DataSet:
    """Open a data source for samples of shape ``sample``; validates everything that can be checked
    without decoding images."""
    path = Path(path)
    if not path.exists():
        raise VaiqError(f"{path}: no such data file or folder")
    if path.is_dir():
        if len(sample) != 3 or sample[0] not in (1, 3):
            raise VaiqError(f"{path}: an image folder needs --input-shape N,C,H,W with C 1 or 3, "
                            f"got per-sample shape {_shape(sample)}")
        files = image_files(path)
        if not files:
            raise VaiqError(f"{path}: no image files found (empty calibration/evaluation set; "
                            f"looked for {' '.join(sorted(IMAGE_SUFFIXES))})")
        files = files[:limit] if limit else files
        return DataSet(path, sample, len(files), files=files)
    if path.suffix not in (".npy", ".npz"):
        raise VaiqError(f"{path}: data must be a .npy file, a .npz file or a folder of images")
    a, y, what = _load_array(path)
    nhwc = _check_array(a, path, sample, what)
    if y is not None and (y.ndim == 0 or y.shape[0] != a.shape[0]):
        raise VaiqError(f"{path}: labels 'y' have shape {_shape(y.shape)}: one label per sample is "
                        f"needed ({a.shape[0]} samples)")
    if limit:
        a = a[:limit]
    _check_finite(a, path, what)
    labels = None
    if y is not None:
        labels = np.asarray(y[:a.shape[0]])
        if labels.dtype.kind not in "biuf":
            raise VaiqError(f"{path}: labels 'y' have dtype {labels.dtype}; numeric labels are needed")
    return DataSet(path, sample, int(a.shape[0]), array=a, labels=labels, nhwc=nhwc)
