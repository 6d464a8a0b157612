"""DPU programs inside the TVM module: the finished build travels with ``export_library``.

Rule: at the switch (or when a module starts from a finished build) the packed build (``build.pack_build``:
meta.json + quant_info.json + deploy and compiled xmodels of every partition) is attached to the
executable as a TVM ``const_loader`` runtime module holding one uint8 tensor named ``BUILD_KEY``, imported
into the executable's module; ``export_library`` serializes imported modules into the library, and
``tvm.runtime.load_module`` restores them, so the DPU programs are inside ``deploy_lib.so`` (no side
file). The const_loader forwards function lookups to its own imports, so it gets an empty LLVM module as
its one import (a lookup there finds nothing and moves on). A module carries at most one build.
"""
from __future__ import annotations

import numpy as np

BUILD_KEY = "vai_tvm_build"
LOADER_KIND = "const_loader"


def _tvm():
    import tvm
    return tvm


def _walk(mod, seen=None):
    seen = set() if seen is None else seen
    if id(mod) in seen:
        return
    seen.add(id(mod))
    yield mod
    for m in mod.imports:
        yield from _walk(m, seen)


def carried_build(mod) -> bytes | None:
    """The packed build attached to runtime module ``mod`` (or its import tree), else None."""
    for m in _walk(mod):
        if m.kind == LOADER_KIND:
            try:
                consts = m["get_const_var_tensor"]()
            except Exception:           # a const_loader of another producer
                continue
            if BUILD_KEY in consts:
                return bytes(np.from_dlpack(consts[BUILD_KEY]).tobytes())
    return None


def _empty_llvm_module():
    tvm = _tvm()
    from tvm import te
    a = te.placeholder((1,), "uint8", name="a")
    b = te.compute((1,), lambda i: a[i], name="b")
    f = te.create_prim_func([a, b]).with_attr("global_symbol", "__vai_tvm_build_anchor")
    built = tvm.compile(tvm.IRModule({"__vai_tvm_build_anchor": f}), target="llvm")
    return getattr(built, "mod", built)


def attach_build(mod, blob: bytes) -> bool:
    """Attach the packed build to runtime module ``mod``; False when it already carries one."""
    if carried_build(mod) is not None:
        return False
    tvm = _tvm()
    data = tvm.runtime.tensor(np.frombuffer(blob, np.uint8).copy())
    loader = tvm.get_global_func("ffi.Module.create.const_loader")({BUILD_KEY: data}, {})
    loader.import_module(_empty_llvm_module())
    mod.import_module(loader)
    return True
