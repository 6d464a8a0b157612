"""vai_tvm: the TVM-with-Vitis-AI flow on Apache TVM's Relax (optional extra ``pip install .[tvm]``).

``partition_for_vitis_ai(mod, dpu=...)`` cuts a Relax module into DPU partitions and CPU parts;
``GraphModule(lib)`` runs TVM's build of it with the original's calls (set_input, run, get_output,
get_num_outputs), quantizing (vaiq), compiling (vaic) and emulating (vairun) the DPU partitions on the fly
after ``PX_QUANT_SIZE`` float runs; ``PX_BUILD_DIR`` caches the results. docs/tvm.md describes the flow.
``import vai_tvm`` works without TVM; the names that need it raise ``VaiTvmError`` naming the extra.
"""
from .errors import VaiTvmError

__all__ = ["GraphModule", "VaiTvmError", "from_onnx", "partition_for_vitis_ai", "known_dpu_names"]


def __getattr__(name):
    if name == "partition_for_vitis_ai":
        from .partition import partition_for_vitis_ai
        return partition_for_vitis_ai
    if name == "from_onnx":
        from .frontend import from_onnx
        return from_onnx
    if name == "GraphModule":
        from .runtime import GraphModule
        return GraphModule
    if name == "known_dpu_names":
        from .dpus import known_names
        return known_names
    raise AttributeError(f"module 'vai_tvm' has no attribute {name!r}")
