"""The graph-outputs rule (xir/graph.py Graph.get_output_ops): tail ops plus declared ``output_ops`` that
still exist, in toposort order; the declaration survives the wire form, renames and the transforms."""
import numpy as np
import pytest

import xir
from xir.errors import GraphError
from xir.interp import run_graph
from xir.transforms import fold_fix_ops, fold_pad

from test_graph_model import small_graph


def test_outputs_are_tail_ops_plus_declared_ones_in_toposort_order():
    g, x, w, b, c, r, a = small_graph()
    assert g.get_output_ops() == [a] and g.get_declared_outputs() == []
    g.declare_outputs(["relu", "conv"])
    assert g.get_output_ops() == [c, r, a]
    sg = g.get_root_subgraph()
    assert [t.name for t in sg.get_output_tensors()] == ["conv", "relu", "add"]
    h = xir.Graph.from_bytes(g.to_bytes())
    assert [o.name for o in h.get_output_ops()] == ["conv", "relu", "add"]
    g.declare_outputs([])
    assert g.get_output_ops() == [a] and not g.has_attr("output_ops")


def test_declaring_an_unknown_op_names_it():
    g, *_ = small_graph()
    with pytest.raises(GraphError, match="no op named 'nope'"):
        g.declare_outputs(["nope"])


def test_a_renamed_declared_op_stays_declared_and_a_removed_one_drops_out():
    g, x, w, b, c, r, a = small_graph()
    g.declare_outputs(["relu"])
    g.rename_op(r, "act")
    assert g.get_declared_outputs() == ["act"] and [o.name for o in g.get_output_ops()] == ["act", "add"]
    g.remove_op(a)
    g.remove_op(r)
    assert [o.name for o in g.get_output_ops()] == ["conv"]


def _fixed_graph():
    g = xir.Graph("n")
    x = g.create_op("x", "data", {"shape": [1, 4, 4, 2], "data_type": "float32"})
    xf = g.create_op("x_fix", "fix", {"fix_point": 4, "bit_width": 8, "round_mode": "DPU_ROUND"}, {"input": [x]})
    p = g.create_op("p", "pad", {"paddings": [0, 0, 1, 1, 1, 1, 0, 0], "mode": "CONSTANT",
                                 "constant_values": [0.0] * 8}, {"input": [xf]})
    pf = g.create_op("p_fix", "fix", {"fix_point": 4, "bit_width": 8, "round_mode": "DPU_ROUND"}, {"input": [p]})
    m = g.create_op("m", "avgpool2d", {"kernel": [3, 3], "count_include_pad": True}, {"input": [pf]})
    g.create_op("m_fix", "fix", {"fix_point": 4, "bit_width": 8, "round_mode": "DPU_ROUND"}, {"input": [m]})
    return g


def test_fold_fix_maps_declared_names_to_the_ops_now_carrying_them():
    g = _fixed_graph()
    g.declare_outputs(["x_fix", "p_fix"])      # data -> fix folds into data-fix named after the data op
    h = fold_fix_ops(g)
    assert h.get_declared_outputs() == ["x", "p_fix"]
    assert [o.name for o in h.get_output_ops()] == ["x", "p_fix", "m_fix"]
    v = np.random.default_rng(0).normal(size=(2, 4, 4, 2)).astype(np.float32)
    assert set(run_graph(h, {"x": v})) == {"x", "p_fix", "m_fix"}


def test_fold_pad_keeps_a_declared_pad():
    g = _fixed_graph()
    h = fold_fix_ops(g)
    assert fold_pad(h) and not h.has_op("p_fix")
    g.declare_outputs(["p_fix"])
    h = fold_fix_ops(g)
    assert fold_pad(h) == [] and h.has_op("p_fix")
