"""xir: the contracts the three tools share (numpy and protobuf only; never torch).

- graph model: :class:`Graph`, :class:`Op`, :class:`Tensor`, :class:`Subgraph` (XIR Python API names)
- the .xmodel format: ``Graph.deserialize(path)`` / ``graph.serialize(path)`` (graph_proto_v2 wire form)
- the op library: :mod:`xir.ops`
- fixed-point numerics and reference kernels: :mod:`xir.fixpoint`, :mod:`xir.kernels`
- targets (arch.json, fingerprints): :mod:`xir.target`
- the DPU instruction set: :mod:`xir.isa`
"""
from .errors import AttrError, GraphError, OpDefError, XirError, XModelError
from .graph import Graph, Op, Subgraph, Tensor

__version__ = "0.1.0"

__all__ = ["Graph", "Op", "Subgraph", "Tensor", "XirError", "AttrError", "GraphError", "OpDefError",
           "XModelError", "__version__"]
