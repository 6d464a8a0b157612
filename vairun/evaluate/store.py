"""Finished shards on disk beside ``--outputs OUT.npz`` (the folder ``OUT.npz.parts``), so a run
keeps flat memory, survives an interruption and continues with ``--resume``.

Rules:
- each finished shard is one ``shard_NNNNNN.npz`` written atomically (a file is whole or absent);
  ``manifest.json`` names the model, the data and the settings, and ``--resume`` refuses parts made
  by another run;
- without ``--resume`` a parts folder left by an earlier run is discarded (never a folder that is not
  one of ours);
- OUT.npz is assembled shard by shard in input order (outputs keyed by output name, plus ``top5``
  when the model is a classifier), streamed into a temporary file that is renamed at the end; then the
  parts folder is removed. OUT.npz therefore holds the same bytes whatever the workers or the engine.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from xir.xmodel import write_atomic

from ..errors import VairunError
from .worker import ShardResult

MANIFEST = "manifest.json"


class PartStore:
    def __init__(self, out: Path, manifest: dict):
        self.out = Path(out)
        self.dir = self.out.with_name(self.out.name + ".parts")
        self.manifest = manifest

    def _shard_path(self, shard: int) -> Path:
        return self.dir / f"shard_{shard:06d}.npz"

    def open(self, resume: bool) -> set[int]:
        """Prepare the folder; returns the shards already finished (only with ``resume``)."""
        if not self.out.parent.is_dir():
            raise VairunError(f"{self.out}: directory {self.out.parent} does not exist; create it first")
        if self.dir.exists():
            try:
                old = json.loads((self.dir / MANIFEST).read_text())
            except (OSError, ValueError):
                raise VairunError(f"{self.dir}: exists but is not a vairun eval parts folder; move it away") from None
            if resume:
                if old != self.manifest:
                    diff = sorted(k for k in set(old) | set(self.manifest) if old.get(k) != self.manifest.get(k))
                    raise VairunError(f"{self.dir}: made by a run with other {', '.join(diff)}; run without "
                                      "--resume to start again")
                return {int(p.stem[6:]) for p in self.dir.glob("shard_*.npz")}
            shutil.rmtree(self.dir)
        self.dir.mkdir()
        write_atomic(self.dir / MANIFEST, json.dumps(self.manifest, sort_keys=True).encode())
        return set()

    def save(self, r: ShardResult) -> None:
        arrays = {} if r.topk is None else {"top5": r.topk}
        arrays.update({f"out:{k}": v for k, v in (r.outputs or {}).items()})
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write_atomic(self._shard_path(r.shard), buf.getvalue())

    def load_topk(self, shard: int) -> np.ndarray | None:
        with np.load(self._shard_path(shard), allow_pickle=False) as z:
            return z["top5"] if "top5" in z.files else None

    def assemble(self, shards: int) -> None:
        """Write OUT.npz from the shards ``0 .. shards-1`` and remove the parts folder."""
        with np.load(self._shard_path(0), allow_pickle=False) as z:
            names = list(z.files)
            info = {k: (z[k].dtype, z[k].shape[1:]) for k in names}
        counts = []
        for s in range(shards):
            with np.load(self._shard_path(s), allow_pickle=False) as z:
                counts.append(z[names[0]].shape[0])
        total = sum(counts)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.out.name}.", suffix=".tmp", dir=self.out.parent)
        os.close(fd)
        try:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for name in names:
                    dtype, rest = info[name]
                    key = name[4:] if name.startswith("out:") else name
                    with zf.open(key + ".npy", "w", force_zip64=True) as f:
                        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                                  "shape": (total, *rest)}
                        np.lib.format.write_array_header_1_0(f, header)
                        for s in range(shards):
                            with np.load(self._shard_path(s), allow_pickle=False) as z:
                                f.write(np.ascontiguousarray(z[name], dtype=dtype).tobytes())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.out)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        shutil.rmtree(self.dir)
