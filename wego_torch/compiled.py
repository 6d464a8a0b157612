"""Compile a model's deploy graph with vaic, through an on-disk cache.

Rule: the cache key is the md5 of the model digest (``deploy.model_digest``: everything the deploy
graph is made from, the code included) together with the target's name and fingerprint; an entry is
a folder written by ``vaic.writer.write_outputs`` (``wego.xmodel``, ``meta.json``, ``md5sum.txt``,
moved in only when complete) plus ``values.json`` (which quantizer node each value of the compiled
graph is), written last. An entry missing a file or failing its checksum is compiled again; a hit
needs neither the deploy graph nor the compiler.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import xir
from vaic.errors import VaicError
from vaic.options import CompileOptions
from vaic.pipeline import compile_graph, resolve_target
from vaic.writer import write_outputs
from xir.target import Target
from xir.xmodel import write_atomic

from .deploy import Deploy
from .errors import WegoError

NET = "wego"
CACHE_FORMAT = "wego-cache-2"
FILES = (f"{NET}.xmodel", "md5sum.txt", "meta.json", "values.json")


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


def cache_key(model_digest: str, target: Target) -> str:
    h = hashlib.md5()
    for part in (CACHE_FORMAT, target.name, str(target.fingerprint), model_digest):
        h.update(hashlib.md5(part.encode()).digest())
    return h.hexdigest()


def _read(folder: Path) -> tuple[xir.Graph, Deploy, dict[str, bytes]] | None:
    if not all((folder / f).exists() for f in FILES):
        return None
    files = {f: (folder / f).read_bytes() for f in FILES}
    if hashlib.md5(files[FILES[0]]).hexdigest() != files["md5sum.txt"].decode().strip():
        return None
    try:
        g = xir.Graph.from_bytes(files[FILES[0]], str(folder / FILES[0]))
        deploy = Deploy.from_json(json.loads(files["values.json"]))
    except Exception:   # a damaged entry is simply compiled again
        return None
    return g, deploy, files


def compile_cached(model_digest: str, make_deploy: Callable[[], Deploy], target: Target, cache_dir,
                   use_cache: bool = True) -> tuple[Compiled, Deploy]:
    """The vaic-compiled model (and its value map) for ``target``, from the cache when it holds it;
    else ``make_deploy()`` builds the deploy graph and vaic compiles it."""
    key = cache_key(model_digest, target)
    root = Path(cache_dir)
    folder = root / key
    if use_cache:
        got = _read(folder)
        if got is not None:
            return Compiled(folder / FILES[0], got[0], target, key, True, got[2]), got[1]
    deploy = make_deploy()
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".deploy-", suffix=".xmodel", dir=root)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(deploy.graph.to_bytes())
        try:
            # ops cut out of the deploy graph come back as its inputs, so two DPU regions no path
            # connects in the graph may still depend on each other through torch: never merge them
            res = compile_graph(tmp, target, CompileOptions(merge_independent=False))
        except VaicError as e:
            raise WegoError(f"the compiler refused the model: {e}") from None
        write_outputs(res, folder, NET)
        write_atomic(folder / "values.json", json.dumps(deploy.to_json(), sort_keys=True).encode())
    finally:
        os.unlink(tmp)
    got = _read(folder)
    if got is None:
        raise WegoError(f"{folder}: the compiled model could not be read back")
    return Compiled(folder / FILES[0], got[0], target, key, False, got[2]), deploy
