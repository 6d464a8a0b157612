"""Compile a deploy graph with vaic, through an on-disk cache.

Rule: the cache key is the md5 of the deploy graph's bytes (deterministic: same model, weights and
quantization result give the same bytes) together with the target's fingerprint and name and the
compiler's identity; an entry is a folder written by ``vaic.writer.write_outputs`` (``wego.xmodel``,
``meta.json``, ``md5sum.txt``, moved in only when complete), so a second compile of the same pair only
reads it back. A corrupt entry is compiled again.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import xir
from vaic.errors import VaicError
from vaic.pipeline import compile_graph, resolve_target
from vaic.writer import write_outputs
from xir.target import Target

from .errors import WegoError

NET = "wego"
CACHE_FORMAT = "wego-cache-1"


@dataclass
class Compiled:
    path: Path               # the compiled <net>.xmodel
    graph: xir.Graph
    target: Target
    key: str
    cached: bool             # read from the cache instead of compiled now
    files: dict[str, bytes]  # the entry's files (what WegoModule.save stores)


def target_of(arch: str) -> Target:
    try:
        return resolve_target(arch)
    except VaicError as e:
        raise WegoError(f"unknown or unusable target: {e}") from None


def cache_key(deploy_bytes: bytes, target: Target) -> str:
    h = hashlib.md5()
    for part in (CACHE_FORMAT.encode(), target.name.encode(), str(target.fingerprint).encode(), deploy_bytes):
        h.update(hashlib.md5(part).digest())
    return h.hexdigest()


FILES = (f"{NET}.xmodel", "md5sum.txt", "meta.json")


def _read(folder: Path) -> tuple[xir.Graph, dict[str, bytes]] | None:
    if not all((folder / f).exists() for f in FILES):
        return None
    files = {f: (folder / f).read_bytes() for f in FILES}
    if hashlib.md5(files[FILES[0]]).hexdigest() != files["md5sum.txt"].decode().strip():
        return None
    try:
        return xir.Graph.from_bytes(files[FILES[0]], str(folder / FILES[0])), files
    except Exception:   # a damaged entry is simply compiled again
        return None


def compile_deploy(deploy: xir.Graph, target: Target, cache_dir, use_cache: bool = True) -> Compiled:
    """The vaic-compiled form of ``deploy`` for ``target`` (from the cache when it holds it)."""
    data = deploy.to_bytes()
    key = cache_key(data, target)
    root = Path(cache_dir)
    folder = root / key
    if use_cache:
        got = _read(folder)
        if got is not None:
            return Compiled(folder / FILES[0], got[0], target, key, True, got[1])
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".deploy-", suffix=".xmodel", dir=root)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            res = compile_graph(tmp, target)
        except VaicError as e:
            raise WegoError(f"the compiler refused the model: {e}") from None
        write_outputs(res, folder, NET)
    finally:
        os.unlink(tmp)
    got = _read(folder)
    if got is None:
        raise WegoError(f"{folder}: the compiled model could not be read back")
    return Compiled(folder / FILES[0], got[0], target, key, False, got[1])
