"""Evaluation data for ``vairun eval``: what DATA may be, how images become model inputs, and labels.

DATA is one of
- an ImageFolder: class sub-folders of images; labels are the class folders' indices in sorted name
  order (a folder with images but no class sub-folders is unlabelled);
- a ``.npy`` of inputs, N x H x W x C (NHWC, the model's layout) or N x C x H x W (transposed);
- a folder of ``.npy`` shards of that form, read in sorted name order as one data set.
Arrays are memory-mapped and read slice by slice, so memory stays flat whatever the data set's size.
``--labels`` (arrays only) is a ``.npy`` of integer labels, one per input.

Preprocessing (``--preprocess``): ``none`` resizes images to the model's H x W and scales them to
[0, 1]; arrays pass as they are (``uint8`` scaled by 1/255). ``imagenet`` crops images the ImageNet way
(resize the shorter side, centre crop) and then, for images and arrays alike, subtracts the ImageNet
mean and divides by its standard deviation (xir/images.py). Every check that needs no decoding is
done when the data set is opened: bad data is a :class:`VairunError` before any worker starts.
"""
from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xir.arrays import open_npy
from xir.images import IMAGE_SUFFIXES, ImageError, image_files, is_image, normalize_imagenet, read_image

from ..errors import VairunError

PREPROCESS = ("none", "imagenet")


@dataclass
class DataSpec:
    """Where the inputs are and how to turn them into float32 NHWC batches; small and picklable, so
    local workers read their own shards."""
    kind: str                      # "images" | "arrays"
    hwc: tuple[int, int, int]
    preprocess: str
    n: int
    files: list[str] = field(default_factory=list)         # images: one file per input; arrays: the shards
    starts: list[int] = field(default_factory=list)        # arrays: first global index of each shard
    nchw: bool = False

    def read(self, start: int, stop: int) -> np.ndarray:
        """Inputs ``start`` to ``stop`` (global indices) as float32 N x H x W x C."""
        h, w, c = self.hwc
        if self.kind == "images":
            fit = "crop" if self.preprocess == "imagenet" else "resize"
            try:
                a = np.stack([read_image(Path(f), c, h, w, fit) for f in self.files[start:stop]])
            except ImageError as e:
                raise VairunError(str(e)) from None
        else:
            a = self._read_arrays(start, stop)
        if self.preprocess == "imagenet":
            a = normalize_imagenet(a)
        return np.ascontiguousarray(a, dtype=np.float32)

    def _read_arrays(self, start: int, stop: int) -> np.ndarray:
        parts = []
        for i, path in enumerate(self.files):
            lo = self.starts[i]
            hi = self.starts[i + 1] if i + 1 < len(self.starts) else self.n
            if hi <= start or lo >= stop:
                continue
            m = np.load(path, mmap_mode="r", allow_pickle=False)
            part = np.asarray(m[max(start, lo) - lo:min(stop, hi) - lo])
            parts.append(part.transpose(0, 2, 3, 1) if self.nchw else part)
        a = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)

    def identity(self) -> str:
        """A digest of what the data set is (files, sizes, count, preprocessing): ``--resume`` refuses
        to continue on other data."""
        h = hashlib.sha256(f"{self.kind}|{self.hwc}|{self.preprocess}|{self.n}|{self.nchw}".encode())
        for f in self.files:
            st = Path(f).stat()
            h.update(f"|{Path(f).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
        return h.hexdigest()[:32]


@dataclass
class DataSet:
    spec: DataSpec
    labels: np.ndarray | None
    classes: list[str] | None      # ImageFolder class names


def _shape(s) -> str:
    return "x".join(str(d) for d in s)


def _npy_header(path: Path):
    if zipfile.is_zipfile(path):
        raise VairunError(f"{path}: give a .npy array, not an .npz")
    return open_npy(path, "data array")


def _array_layout(path: Path, m: np.ndarray, hwc: tuple[int, int, int]) -> bool:
    """True when ``m`` is N x C x H x W; VairunError unless it is N x H x W x C or that."""
    h, w, c = hwc
    if m.dtype.kind not in "biuf":
        raise VairunError(f"{path}: dtype {m.dtype}; numeric inputs are needed")
    if m.ndim != 4 or m.shape[0] == 0:
        raise VairunError(f"{path}: shape {_shape(m.shape)}; inputs must be N x {h}x{w}x{c} (NHWC) "
                          f"or N x {c}x{h}x{w} (NCHW) with N > 0")
    if tuple(m.shape[1:]) == (h, w, c):
        return False
    if tuple(m.shape[1:]) == (c, h, w):
        return True
    raise VairunError(f"{path}: samples of shape {_shape(m.shape[1:])} do not fit the model's input "
                      f"{h}x{w}x{c} (NHWC) or {c}x{h}x{w} (NCHW)")


def _open_arrays(files: list[Path], hwc, preprocess) -> DataSpec:
    starts, n, layout = [], 0, None
    for f in files:
        m = _npy_header(f)
        nchw = _array_layout(f, m, hwc)
        if layout is not None and nchw != layout:
            raise VairunError(f"{f}: laid out {'NCHW' if nchw else 'NHWC'} unlike the shards before it; "
                              "give every shard the same layout")
        layout = nchw
        starts.append(n)
        n += m.shape[0]
    return DataSpec("arrays", hwc, preprocess, n, [str(f) for f in files], starts, bool(layout))


def _read_labels(path: Path, n: int) -> np.ndarray:
    if not path.exists():
        raise VairunError(f"{path}: no such labels file")
    m = _npy_header(path)
    if m.dtype.kind not in "iu" or m.ndim != 1:
        raise VairunError(f"{path}: labels must be a 1-D .npy of integers, got {m.dtype} of shape {_shape(m.shape)}")
    if m.shape[0] != n:
        raise VairunError(f"{path}: {m.shape[0]} labels for {n} inputs; give one label per input")
    labels = np.asarray(m, dtype=np.int64)
    if labels.size and labels.min() < 0:
        raise VairunError(f"{path}: negative label {int(labels.min())}; labels are class indices from 0")
    return labels


def open_data(data, hwc: tuple[int, int, int], preprocess: str = "none", labels=None,
              limit: int | None = None) -> DataSet:
    """Open DATA for a model whose input is H x W x C; validates all that needs no decoding."""
    if preprocess not in PREPROCESS:
        raise VairunError(f"--preprocess {preprocess!r}: choose one of {', '.join(PREPROCESS)}")
    if preprocess == "imagenet" and hwc[2] != 3:
        raise VairunError(f"--preprocess imagenet needs a 3-channel input; the model's has {hwc[2]}")
    path = Path(data)
    if not path.exists():
        raise VairunError(f"{path}: no such data file or folder")
    classes = None
    y = None
    if path.is_file():
        if path.suffix != ".npy":
            raise VairunError(f"{path}: DATA must be an ImageFolder, a .npy of inputs or a folder of .npy shards")
        spec = _open_arrays([path], hwc, preprocess)
    else:
        shards = sorted(p for p in path.iterdir() if p.is_file() and p.suffix == ".npy" and not p.name.startswith("."))
        subdirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
        if shards and (subdirs or any(is_image(p) for p in path.iterdir())):
            raise VairunError(f"{path}: mixes .npy shards with images or sub-folders; keep one kind of data per folder")
        if shards:
            spec = _open_arrays(shards, hwc, preprocess)
        else:
            files = image_files(path)
            if not files:
                raise VairunError(f"{path}: no images and no .npy shards found (looked for .npy and "
                                  f"{' '.join(sorted(IMAGE_SUFFIXES))})")
            if subdirs:
                top = [f for f in files if f.parent == path]
                if top:
                    raise VairunError(f"{top[0]}: an image outside the class folders of ImageFolder {path}; "
                                      "move it into a class folder")
                classes = [d.name for d in subdirs]
                index = {name: i for i, name in enumerate(classes)}
                files = sorted(files, key=lambda f: (index[f.relative_to(path).parts[0]], f.relative_to(path).as_posix()))
                y = np.array([index[f.relative_to(path).parts[0]] for f in files], np.int64)
            spec = DataSpec("images", hwc, preprocess, len(files), [str(f) for f in files])
    if labels is not None:
        if spec.kind == "images":
            raise VairunError(f"{labels}: --labels is for .npy inputs; an ImageFolder's labels are its class folders")
        y = _read_labels(Path(labels), spec.n)
    if limit is not None and limit < spec.n:
        spec.n = limit
        if spec.kind == "images":
            spec.files = spec.files[:limit]
        if y is not None:
            y = y[:limit]
    return DataSet(spec, y, classes)
