"""The build folder (``PX_BUILD_DIR`` or ``build_dir=``): the quantized and compiled DPU partitions of one model.

Layout (docs/tvm.md)::

    <build_dir>/meta.json                       written last: the build is finished when it exists
    <build_dir>/dpu<i>/quant_info.json          vaiq's calibration result of partition i
    <build_dir>/dpu<i>/<Net>_int.xmodel         vaiq's deploy graph of partition i
    <build_dir>/dpu<i>/compiled/dpu<i>.xmodel   vaic's compiled model (+ meta.json, md5sum.txt)

Rules:
- each partition is quantized by vaiq (calibration + DPU refinement on the recorded inputs, then test mode
  and its deploy xmodel) from the float model vaiq's ONNX frontend reads, and compiled by vaic for the
  target; a partition is built in a temporary folder and moved into place whole;
- ``meta.json`` names the format, the model key (digest of every partition record), the target and its
  fingerprint, the number of calibration runs, and every file with its md5; reading a build checks all of
  them, and anything wrong (not JSON, another format, another model or target, a file missing or changed)
  is a ``VaiTvmError`` naming the file;
- a folder holding files but no ``meta.json`` is refused (it is not a build of this flow, or an unfinished
  one), except for ``.tmp-*`` leftovers of an interrupted build.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import tempfile
import warnings
from pathlib import Path

import numpy as np

from xir.files import write_atomic

from .errors import VaiTvmError

BUILD_FORMAT = "vai_tvm-build-1"
META = "meta.json"


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def quantize_and_compile(header: dict, onnx_bytes: bytes, recorded: list[list[np.ndarray]], target,
                         out: Path) -> None:
    """Quantize one partition (vaiq, on its recorded inputs) and compile it (vaic) into folder ``out``."""
    import torch

    from vaic.errors import VaicError
    from vaic.options import CompileOptions
    from vaic.pipeline import compile_graph
    from vaic.writer import write_outputs
    from vaiq import VaiqError, torch_quantizer
    from vaiq.onnx_frontend import load_onnx

    name = header["name"]
    try:
        model = load_onnx(onnx_bytes)
        args = tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in recorded[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = torch_quantizer("calib", model, args, output_dir=str(out), target=header["dpu"])
            with torch.no_grad():
                for inputs in recorded:
                    q.quant_model(*(torch.from_numpy(np.ascontiguousarray(x)) for x in inputs))
            q.export_quant_config()
            t = torch_quantizer("test", model, args, output_dir=str(out), target=header["dpu"])
            with torch.no_grad():
                t.quant_model(*args)
            deploy = t.export_xmodel(str(out))
    except VaiqError as e:
        raise VaiTvmError(f"partition {name}: vaiq could not quantize it: {e}") from None
    try:
        res = compile_graph(str(deploy), target, CompileOptions())
    except VaicError as e:
        raise VaiTvmError(f"partition {name}: vaic could not compile it: {e}") from None
    write_outputs(res, out / "compiled", name)


def write_build(folder: Path, headers: list[dict], onnx: list[bytes], recorded: dict[int, list], target,
                quant_size: int, log=print) -> None:
    """Build every partition into ``folder`` and write ``meta.json`` last."""
    folder.mkdir(parents=True, exist_ok=True)
    check_empty_or_build(folder)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
    try:
        for h, ob in zip(headers, onnx):
            log(f"vai_tvm: quantizing and compiling partition {h['name']} ({len(recorded[h['index']])} "
                f"calibration inputs) for {h['dpu']}")
            part = tmp / h["name"]
            part.mkdir()
            quantize_and_compile(h, ob, recorded[h["index"]], target, part)
        files = {}
        for h in headers:
            dst = folder / h["name"]
            if dst.exists():
                shutil.rmtree(dst)
            (tmp / h["name"]).rename(dst)
            for f in sorted(p for p in dst.rglob("*") if p.is_file()):
                files[str(f.relative_to(folder))] = _md5(f)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    meta = {"format": BUILD_FORMAT, "model_key": headers[0]["model_key"], "dpu": headers[0]["dpu"],
            "target": target.name, "fingerprint": target.fingerprint_hex, "quant_size": quant_size,
            "partitions": [{"index": h["index"], "name": h["name"], "inputs": h["inputs"], "outputs": h["outputs"],
                            "compiled": f"{h['name']}/compiled/{h['name']}.xmodel"} for h in headers],
            "files": files}
    write_atomic(folder / META, json.dumps(meta, indent=1, sort_keys=True).encode())


def check_empty_or_build(folder: Path) -> None:
    """Refuse a folder that holds files but is no build of this flow."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise VaiTvmError(f"{folder}: the build folder is a file; give a folder (PX_BUILD_DIR / build_dir=)")
    if (folder / META).exists():
        return
    other = [p.name for p in folder.iterdir() if not p.name.startswith(".tmp-")]
    if other:
        raise VaiTvmError(f"{folder}: holds {', '.join(sorted(other)[:3])} but no {META}; it is not a vai_tvm "
                          "build folder: give an empty or new folder")


def read_build(folder: Path, model_key: str, target) -> dict | None:
    """The finished build in ``folder`` for the model ``model_key``, checked; None when there is none yet."""
    check_empty_or_build(folder)
    mp = folder / META
    if not mp.exists():
        return None
    try:
        meta = json.loads(mp.read_bytes())
    except (ValueError, UnicodeDecodeError):
        raise VaiTvmError(f"{mp}: not valid JSON; the build folder is damaged: delete it or give another one") from None
    if not isinstance(meta, dict) or meta.get("format") != BUILD_FORMAT:
        fmt = meta.get("format") if isinstance(meta, dict) else None
        raise VaiTvmError(f"{mp}: format {fmt!r} is not a vai_tvm build ({BUILD_FORMAT}); "
                          "give an empty folder or a build of this flow")
    if meta.get("model_key") != model_key:
        raise VaiTvmError(f"{mp}: was built for another model (model key {meta.get('model_key')}, this model's "
                          f"is {model_key}); give an empty folder or that model's build")
    if meta.get("fingerprint") != target.fingerprint_hex or meta.get("target") != target.name:
        raise VaiTvmError(f"{mp}: was built for {meta.get('target')} ({meta.get('fingerprint')}), this module "
                          f"targets {target.name}; give an empty folder")
    files = meta.get("files")
    if not isinstance(files, dict) or not isinstance(meta.get("partitions"), list):
        raise VaiTvmError(f"{mp}: lists no files or partitions; the build folder is damaged: delete it")
    for rel, md5 in files.items():
        p = folder / rel
        if not p.is_file():
            raise VaiTvmError(f"{p}: listed in {mp} but missing; the build folder is damaged: delete it")
        if _md5(p) != md5:
            raise VaiTvmError(f"{p}: its content changed since the build (md5 differs from {mp}); "
                              "the build folder is damaged: delete it")
    return meta


def pack_build(folder: Path, meta: dict) -> bytes:
    """``meta.json`` and every file it lists, as one tar (what travels inside an exported library)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel in [META] + sorted(meta["files"]):
            data = (folder / rel).read_bytes()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def unpack_build(blob: bytes, folder: Path) -> None:
    """Write a packed build into the (new, private) ``folder``; member names stay inside it."""
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
        for m in tar.getmembers():
            dst = (folder / m.name).resolve()
            if not m.isfile() or folder.resolve() not in dst.parents:
                raise VaiTvmError(f"the library's DPU build holds an unexpected member {m.name!r}; "
                                  "export the library again")
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(tar.extractfile(m).read())
