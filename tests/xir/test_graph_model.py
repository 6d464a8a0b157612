"""Graph model: XIR API names, typed attributes, toposort, validation naming the op, subgraphs."""
import numpy as np
import pytest

import xir
from xir.errors import AttrError, GraphError, OpDefError


def small_graph():
    g = xir.Graph("net")
    x = g.create_op("input", "data", {"shape": [1, 8, 8, 3], "data_type": "float32"})
    w = g.create_const_op("w", np.arange(4 * 3 * 3 * 3, dtype=np.float32).reshape(4, 3, 3, 3))
    b = g.create_const_op("b", np.zeros(4, np.float32))
    c = g.create_op("conv", "conv2d", {"kernel": [3, 3], "pad": [1, 1, 1, 1]},
                    {"input": [x], "weights": [w], "bias": [b]})
    r = g.create_op("relu", "relu", input_ops={"input": [c]})
    a = g.create_op("add", "add", input_ops={"input": [r, c]})
    return g, x, w, b, c, r, a


def test_xir_python_api_names():
    g, x, w, b, c, r, a = small_graph()
    assert g.get_name() == "net"
    assert [o.get_name() for o in g.get_ops()] == ["input", "w", "b", "conv", "relu", "add"]
    assert c.get_type() == "conv2d"
    assert c.get_input_ops() == {"input": [x], "weights": [w], "bias": [b]}
    assert c.get_input_op("weights") is w
    assert c.get_input_num() == 3
    assert [t.name for t in c.get_input_tensors()] == ["input", "w", "b"]
    t = c.get_output_tensor()
    assert t.dims == [1, 8, 8, 4] and t.dtype == "float32" and t.ndim == 4
    assert t.get_element_num() == 256 and t.get_data_size() == 1024
    assert c.has_attr("kernel") and c.get_attr("kernel") == [3, 3]
    assert not c.has_attr("stride") and c.get_attr_or_default("stride") == [1, 1]
    assert c.get_fanout_ops() == [r, a] and c.get_fanout_num() == 2
    root = g.get_root_subgraph()
    assert root.get_name() == "root" and root.is_leaf and root.is_root
    assert root.get_op_num() == 6
    assert [o.name for o in g.get_head_ops()] == ["input", "w", "b"]
    assert [o.name for o in g.get_tail_ops()] == ["add"]


def test_typed_attributes_follow_op_definition_and_inference():
    g, x, w, b, c, r, a = small_graph()
    assert c.get_attr_type("kernel") == "int32[]"
    f = g.create_op("f", "fix", {"fix_point": 3, "round_mode": "DPU_ROUND"}, {"input": [a]})
    assert f.get_attr_type("fix_point") == "int32" and f.get_attr_type("round_mode") == "string"
    assert f.get_output_tensor().dtype == "xint8"
    f.set_attr("workload", 2**40)
    assert f.get_attr_type("workload") == "int64"
    f.set_attr("fp", 0xFFFFFFFFFFFFFFFF, "uint64")
    assert f.get_attr("fp") == 2**64 - 1
    with pytest.raises(OpDefError, match="'f' \\(fix\\).*fix_point"):
        f.set_attr("fix_point", "seven")
    with pytest.raises(OpDefError, match="round_mode.*DPU_ROUND"):
        f.set_attr("round_mode", "NEAREST")
    with pytest.raises(AttrError, match="does not fit uint64"):
        f.set_attr("fp", -1, "uint64")
    t = f.get_output_tensor()
    t.set_attr("fix_point", 3)
    assert t.get_attrs() == {"fix_point": 3}


def test_const_data_round_trip_and_dtypes():
    g = xir.Graph("c")
    q = np.array([[-128, 127], [0, -1]], dtype=np.int8)
    op = g.create_const_op("q", q, data_type="xint8")
    assert op.get_output_tensor().dtype == "xint8"
    assert np.array_equal(op.get_const_data(), q)
    with pytest.raises(OpDefError, match="const data holds 3 bytes"):
        g.create_op("bad", "const", {"shape": [2, 2], "data_type": "int8", "data": b"abc"})
    assert not g.has_op("bad")  # a failed create leaves nothing behind


def test_create_op_errors_name_the_op():
    g, x, w, b, c, r, a = small_graph()
    with pytest.raises(GraphError, match="already has an op named 'conv'"):
        g.create_op("conv", "relu", input_ops={"input": [x]})
    with pytest.raises(OpDefError, match="unknown op type 'conv3d'"):
        g.create_op("c3", "conv3d")
    with pytest.raises(OpDefError, match="'c2' \\(conv2d\\) needs exactly 1 'weights'"):
        g.create_op("c2", "conv2d", {"kernel": [3, 3]}, {"input": [x]})
    with pytest.raises(OpDefError, match="'c2' \\(conv2d\\) is missing required attribute"):
        g.create_op("c2", "conv2d", {}, {"input": [x], "weights": [w]})
    with pytest.raises(OpDefError, match="'c2' \\(conv2d\\): kernel attribute \\[5, 5\\]"):
        g.create_op("c2", "conv2d", {"kernel": [5, 5]}, {"input": [x], "weights": [w]})
    with pytest.raises(OpDefError, match="'e' \\(add\\): shapes .* do not broadcast"):
        g.create_op("e", "add", input_ops={"input": [x, c]})
    assert [o.name for o in g.get_ops()] == ["input", "w", "b", "conv", "relu", "add"]
    assert c.get_fanout_ops() == [r, a]


def test_toposort_is_deterministic_and_detects_cycles():
    g = xir.Graph("t")
    d = g.create_op("d", "data", {"shape": [1, 4], "data_type": "float32"})
    # created out of dependency order through set_input_ops
    late = g.create_op("late", "relu", input_ops={"input": [d]})
    early = g.create_op("early", "relu", input_ops={"input": [d]})
    late.set_input_ops("input", [early])
    assert [o.name for o in g.toposort()] == ["d", "early", "late"]
    early.set_input_ops("input", [late])
    with pytest.raises(GraphError, match="cycle"):
        g.toposort()


def test_validate_names_the_op_with_stale_shape():
    g, x, w, b, c, r, a = small_graph()
    g.validate()
    c.set_attr("stride", [2, 2])
    with pytest.raises(OpDefError, match="'conv' \\(conv2d\\): output dims \\[1, 8, 8, 4\\] differ"):
        g.validate()
    c.set_attr("stride", [1, 1])
    r.infer_shape()
    r.set_input_ops("input", [x])  # relu now reads the 3-channel input, add still mixes it with conv
    with pytest.raises(OpDefError, match="'add' \\(add\\): shapes .* do not broadcast"):
        g.infer_shapes()


def test_infer_shapes_after_edit():
    g, x, w, b, c, r, a = small_graph()
    c.set_attr("stride", [2, 2])
    g.infer_shapes()
    assert a.get_output_tensor().dims == [1, 4, 4, 4]
    g.validate()


def test_remove_and_replace_uses():
    g, x, w, b, c, r, a = small_graph()
    with pytest.raises(GraphError, match="cannot remove op 'relu'"):
        g.remove_op(r)
    g.replace_uses(r, c)
    assert a.get_input_ops("input") == [c, c]
    g.remove_op("relu")
    assert not g.has_op("relu") and not g.get_root_subgraph().has_op("relu")
    g.validate()


def test_subgraph_partition_and_child_order():
    g, x, w, b, c, r, a = small_graph()
    root = g.get_root_subgraph()
    second = root.create_child("tail", [r, a])
    first = root.create_child("head", [x, w, b, c])
    assert root.toposort_child_subgraph() == [first, second]
    assert [t.name for t in second.get_input_tensors()] == ["conv"]
    assert [t.name for t in first.get_output_tensors()] == ["conv"]
    assert [t.name for t in second.get_output_tensors()] == ["add"]
    first.set_attr("device", "DPU")
    assert first.has_attr("device") and first.get_attr("device") == "DPU"
    assert root.find_leaf("relu") is second
    with pytest.raises(GraphError, match="already belong to another child"):
        root.create_child("dup", [c])
    g.validate()


def test_validate_rejects_bad_partitions():
    g, x, w, b, c, r, a = small_graph()
    root = g.get_root_subgraph()
    root.create_child("part", [x, w, b, c])
    with pytest.raises(GraphError, match="belong to no child subgraph"):
        g.validate()
    root.remove_children()
    root.create_child("first", [x, w, b, r, a])
    root.create_child("second", [c])
    with pytest.raises(GraphError, match="cycle"):
        g.validate()


def test_create_child_subgraph_one_per_op():
    g, *_ = small_graph()
    kids = g.get_root_subgraph().create_child_subgraph()
    assert [k.get_name() for k in kids] == ["subgraph_input", "subgraph_w", "subgraph_b", "subgraph_conv",
                                             "subgraph_relu", "subgraph_add"]
    assert all(k.is_leaf and k.get_parent() is g.get_root_subgraph() for k in kids)


def test_copy_is_independent():
    g, *_ = small_graph()
    h = g.copy("other")
    h.get_op("conv").set_attr("stride", [2, 2])
    assert not g.get_op("conv").has_attr("stride")
    assert h.get_name() == "other"


def test_rename_op_keeps_edges_subgraphs_and_tensor_name():
    g, x, w, b, c, r, a = small_graph()
    g.get_root_subgraph().create_child("s", [x, w, b, c])
    g.get_root_subgraph().create_child("t", [r, a])
    g.rename_op(c, "conv_new")
    assert g.get_op("conv_new") is c and not g.has_op("conv") and c.get_output_tensor().name == "conv_new"
    assert r.get_input_ops("input") == [c] and c.get_fanout_ops() == [r, a]
    assert g.get_root_subgraph().find_leaf("conv_new").get_name() == "s"
    g.validate()
    assert xir.Graph.from_bytes(g.to_bytes()).get_op("relu").get_input_op("input").get_name() == "conv_new"
    with pytest.raises(GraphError, match="already has an op named 'relu'"):
        g.rename_op(c, "relu")


@pytest.mark.parametrize("atype", ["int32[]", "uint32[]", "int64[]", "uint64[]", None])
def test_integer_vector_attributes_store_what_coerce_gives(atype):
    """Plain in-range int lists are stored directly; anything else goes through coerce as before."""
    from xir.attrs import coerce, infer_type
    g = xir.Graph("g")
    for value in ([1, 2, 3], [], [2**31], [-5], [True, 1], [1.0, 2], [np.int64(4)], (1, 2), [2**64]):
        try:
            want = (atype or infer_type(value), coerce(value, atype or infer_type(value)))
        except AttrError:
            with pytest.raises(AttrError):
                g.set_attr("a", value, atype)
            continue
        g.set_attr("a", value, atype)
        got = g._attrs["a"]
        assert got == want and [type(v) for v in got[1]] == [type(v) for v in want[1]]
