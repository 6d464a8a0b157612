"""The .xmodel format: round trip, deterministic bytes, atomic writes, clear errors on bad files, and the
field numbers of graph_proto_v2 checked by an independent wire-format reader (no protobuf library)."""
import json
import os

import numpy as np
import pytest

import xir
from xir.errors import FileError, XModelError


# ---- an independent, minimal protobuf wire reader ------------------------------------------

def _varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def wire_fields(buf):
    """[(field_number, wire_type, value)] of one message; value is int or bytes."""
    out, i = [], 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = _varint(buf, i)
            v, i = bytes(buf[i:i + n]), i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise AssertionError(f"unexpected wire type {wt}")
        out.append((field, wt, v))
    return out


def by_field(buf):
    d = {}
    for f, wt, v in wire_fields(buf):
        d.setdefault(f, []).append((wt, v))
    return d


def map_entries(entries):
    """A proto map field is repeated {key = 1, value = 2} messages."""
    out = {}
    for _, raw in entries:
        e = by_field(raw)
        out[e[1][0][1].decode()] = e[2][0][1]
    return out


def attr_oneof(raw):
    (f, wt, v), = wire_fields(raw)
    return f, wt, v


# ---- fixtures ------------------------------------------------------------------------------

def build_graph():
    g = xir.Graph("resnet_like")
    x = g.create_op("input", "data", {"shape": [1, 6, 6, 2], "data_type": "float32"})
    w = g.create_const_op("conv_w", np.arange(3 * 3 * 3 * 2, dtype=np.int8).reshape(3, 3, 3, 2) - 20,
                          data_type="xint8")
    xf = g.create_op("input_fix", "fix", {"fix_point": 5, "bit_width": 8, "round_mode": "DPU_ROUND",
                                           "if_signed": True}, {"input": [x]})
    c = g.create_op("conv", "conv2d", {"kernel": [3, 3], "stride": [1, 1], "pad": [1, 1, 1, 1]},
                    {"input": [xf], "weights": [w]})
    r = g.create_op("act", "leaky-relu", {"alpha": 26 / 256}, {"input": [c]})
    g.create_op("out_fix", "fix", {"fix_point": 3}, {"input": [r]})
    c.get_output_tensor().set_attr("fix_point", 4)
    root = g.get_root_subgraph()
    dpu = root.create_child("subgraph_conv", [xf, w, c, r, g.get_op("out_fix")])
    root.create_child("subgraph_input", [x])
    dpu.set_attr("device", "DPU")
    dpu.set_attr("dpu_fingerprint", 0x101000016010407, "uint64")
    dpu.set_attr("mc_code", b"\x00\x01\x02\xff")
    dpu.set_attr("reg_id_to_size", {"REG_0": 1024, "REG_1": 4096})
    dpu.set_attr("reg_id_to_context_type", {"REG_0": "CONST", "REG_1": "DATA"})
    dpu.set_attr("reg_id_to_parameter_value", {"REG_0": b"\x01\x02"})
    dpu.set_attr("shapes", {"a": [1, 2, 3]})
    dpu.set_attr("names", {"a": ["x", "y"]})
    g.set_attr("origin", "test")
    g.set_attr("flags", [True, False])
    g.set_attr("scales", np.array([0.5, 0.25], dtype=np.float32))
    g.set_attr("dscales", [0.5, 0.125])
    g.set_attr("i64", [2**40, -1])
    g.set_attr("blobs", [b"a", b"bc"])
    g.set_attr("tags", ["p", "q"])
    g.set_attr("u32", np.array([1, 2], dtype=np.uint32))
    g.set_attr("u64v", np.array([2**63], dtype=np.uint64))
    g.set_attr("m64", {"k": 2**40})
    g.set_attr("mu32", {"k": 3}, "map<string,uint32>")
    g.set_attr("mu64", {"k": 2**63}, "map<string,uint64>")
    g.set_attr("mi64v", {"k": [2**40]})
    g.set_attr("mu32v", {"k": [7]}, "map<string,uint32[]>")
    g.set_attr("mu64v", {"k": [2**63]}, "map<string,uint64[]>")
    g.set_attr("u32s", 7, "uint32")
    g.set_attr("f32", 0.5, "float")
    return g


# ---- tests -----------------------------------------------------------------------------------

def test_round_trip_keeps_everything(tmp_path):
    g = build_graph()
    p = tmp_path / "m.xmodel"
    g.serialize(p)
    h = xir.Graph.deserialize(p)
    assert h.get_name() == "resnet_like"
    assert [o.name for o in h.get_ops()] == [o.name for o in g.get_ops()]
    for o in g.get_ops():
        o2 = h.get_op(o.name)
        assert o2.get_type() == o.get_type()
        assert o2._attrs == o._attrs  # values and wire types
        assert {k: [x.name for x in v] for k, v in o2.get_input_ops().items()} == \
               {k: [x.name for x in v] for k, v in o.get_input_ops().items()}
        t, t2 = o.get_output_tensor(), o2.get_output_tensor()
        assert (t2.name, t2.dims, t2.dtype, t2._attrs) == (t.name, t.dims, t.dtype, t._attrs)
    assert h._attrs == g._attrs
    kids = h.get_root_subgraph().toposort_child_subgraph()
    assert [k.name for k in kids] == ["subgraph_input", "subgraph_conv"]
    dpu = kids[1]
    assert dpu._attrs == g.get_root_subgraph().children[0]._attrs
    assert np.array_equal(h.get_op("conv_w").get_const_data(), g.get_op("conv_w").get_const_data())
    assert h.to_bytes() == g.to_bytes()


def test_bytes_are_deterministic_whatever_the_insertion_order(tmp_path):
    a = build_graph()
    b = build_graph()
    # same attributes set in another order
    for k in reversed(list(b._attrs)):
        b._attrs[k] = b._attrs.pop(k)
    a.serialize(tmp_path / "a.xmodel")
    b.serialize(tmp_path / "b.xmodel")
    assert (tmp_path / "a.xmodel").read_bytes() == (tmp_path / "b.xmodel").read_bytes()


def test_field_numbers_with_independent_wire_reader(tmp_path):
    p = tmp_path / "m.xmodel"
    build_graph().serialize(p)
    top = by_field(p.read_bytes())
    assert set(top) == {1, 5, 10, 11, 101}
    assert top[1][0] == (2, b"resnet_like")                         # Graph.graph_name = 1
    nodes = [by_field(v) for _, v in top[5]]                        # Graph.op_node = 5
    names = [n[1][0][1].decode() for n in nodes]                    # OPNode.op_name = 1
    assert names[:3] == ["input", "conv_w", "input_fix"]
    conv = nodes[names.index("conv")]
    assert conv[2][0][1] == b"conv2d"                               # OPNode.op_type = 2
    attrs = map_entries(conv[3])                                    # OPNode.op_attr = 3
    f, wt, vec = attr_oneof(attrs["kernel"])
    assert f == 14                                                  # AttrValue int32 vector = 14
    (vf, vwt, packed), = wire_fields(vec)                           # Int32Vec.value = 1 (packed)
    assert vf == 1 and vwt == 2 and list(packed) == [3, 3]
    args = [by_field(v) for _, v in conv[4]]                        # OPNode.args = 4
    assert [(a[1][0][1], [x for _, x in a[2]]) for a in args] == \
        [(b"input", [b"input_fix"]), (b"weights", [b"conv_w"])]     # OpArg.arg_name = 1, arg_ops = 2
    t = by_field(conv[5][0][1])                                     # OPNode.output_tensor = 5
    assert t[1][0][1] == b"conv"                                    # Tensor.tensor_name = 1
    assert list(t[2][0][1]) == [1, 6, 6, 3]                         # Tensor.tensor_dim = 2 (packed)
    assert t[5][0][1] == 4 and t[6][0][1] == 32                     # data_type FLOAT = 4, bit width = 6
    assert attr_oneof(map_entries(t[10])["fix_point"])[:2] == (5, 0)  # tensor_attr = 10; int32 = 5
    fix = nodes[names.index("input_fix")]
    fattrs = map_entries(fix[3])
    assert attr_oneof(fattrs["round_mode"]) == (11, 2, b"DPU_ROUND")  # string = 11
    assert attr_oneof(fattrs["if_signed"]) == (4, 0, 1)              # bool = 4
    ft = by_field(fix[5][0][1])
    assert ft[5][0][1] == 2 and ft[6][0][1] == 8                    # XINT = 2, 8 bits
    leaky = map_entries(nodes[names.index("act")][3])
    assert attr_oneof(leaky["alpha"])[:2] == (9, 5)                  # float = 9 (fixed32)
    cw = map_entries(nodes[names.index("conv_w")][3])
    assert attr_oneof(cw["data"])[:2] == (12, 2)                     # bytes = 12

    root = by_field(top[10][0][1])                                  # Graph.subg_root = 10
    assert root[1][0][1] == b"root" and 3 not in root               # SubGraph.subgraph_name = 1
    kids = [by_field(v) for _, v in root[10]]                       # SubGraph.subg_child = 10
    dpu = kids[0]
    assert [v for _, v in dpu[3]] == [b"act", b"conv", b"conv_w", b"input_fix", b"out_fix"]  # op_name = 3
    sattr = map_entries(dpu[5])                                     # SubGraph.subg_attr = 5
    assert attr_oneof(sattr["dpu_fingerprint"]) == (8, 0, 0x101000016010407)  # uint64 = 8
    assert attr_oneof(sattr["mc_code"]) == (12, 2, b"\x00\x01\x02\xff")
    expected_map_fields = {"reg_id_to_size": 22, "reg_id_to_context_type": 26,
                           "reg_id_to_parameter_value": 27, "shapes": 28, "names": 32}
    for k, num in expected_map_fields.items():
        assert attr_oneof(sattr[k])[0] == num, k

    gattr = map_entries(top[11])                                    # Graph.graph_attr = 11
    expected = {"origin": 11, "flags": 13, "tags": 20, "scales": 18, "dscales": 19, "i64": 16,
                "blobs": 21, "u32": 15, "u64v": 17, "m64": 24, "mu32": 23, "mu64": 25, "mi64v": 30,
                "mu32v": 29, "mu64v": 31, "u32s": 6, "f32": 9}
    for k, num in expected.items():
        assert attr_oneof(gattr[k])[0] == num, k
    assert attr_oneof(gattr["i64"]) and attr_oneof(map_entries(top[11])["m64"])

    defs = [by_field(v) for _, v in top[101]]                       # Graph.op_defs = 101
    dnames = [d[1][0][1] for d in defs]                             # OpDef.name = 1
    assert dnames == sorted(dnames) and b"conv2d" in dnames
    conv_def = defs[dnames.index(b"conv2d")]
    in_args = [by_field(v) for _, v in conv_def[2]]                 # OpDef.input_args = 2
    assert [a[1][0][1] for a in in_args] == [b"input", b"weights", b"bias"]
    assert [a.get(2, [(0, 0)])[0][1] for a in in_args] == [0, 0, 1]  # occur_type = 2 (OPTIONAL = 1)
    adefs = [by_field(v) for _, v in conv_def[3]]                   # OpDef.attrs = 3
    kernel = next(a for a in adefs if a[1][0][1] == b"kernel")
    assert kernel[6][0][1] == 2                                     # AttrDef.list_length = 6
    assert attr_oneof(kernel[4][0][1])[0] == 14                     # AttrDef.default_value = 4
    assert 4 in conv_def                                            # OpDef.annotation = 4


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    g = build_graph()
    p = tmp_path / "m.xmodel"
    p.write_bytes(b"old contents")

    def boom(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(FileError, match="m.xmodel: cannot write: No space left on device"):
        g.serialize(p)
    assert p.read_bytes() == b"old contents"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["m.xmodel"]


def test_write_into_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileError, match="does not exist"):
        build_graph().serialize(tmp_path / "nope" / "m.xmodel")


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not an .xmodel"),
    (json.dumps({"target": "DPUCZDX8G_ISA1_B4096"}).encode(), "not an .xmodel"),
    (bytes(range(256)) * 4, "not an .xmodel"),
    (b"\x0a\x03abc", "the graph has no ops"),
])
def test_bad_files_give_one_clear_error(tmp_path, content, message):
    p = tmp_path / "bad.xmodel"
    p.write_bytes(content)
    with pytest.raises(XModelError, match=message) as e:
        xir.Graph.deserialize(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_an_onnx_model_given_as_xmodel_says_to_quantize_it_first(tmp_path):
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    data = helper.make_model(g).SerializeToString()
    for name, content in (("net.onnx", data), ("cut.ONNX", data[:7])):
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(XModelError, match=r"not an \.xmodel.*looks like an ONNX model: quantize it first "
                                              rf"\(vaiq quantize --model {name} \.\.\.\)") as e:
            xir.Graph.deserialize(p)
        assert "\n" not in str(e.value)
    p = tmp_path / "net.xmodel"
    p.write_bytes(data)
    with pytest.raises(XModelError) as e:
        xir.Graph.deserialize(p)
    assert "ONNX" not in str(e.value)


def test_every_truncation_is_rejected(tmp_path):
    data = build_graph().to_bytes()
    p = tmp_path / "t.xmodel"
    for n in range(0, len(data) - 1, 3):
        p.write_bytes(data[:n])
        with pytest.raises(XModelError):
            xir.Graph.deserialize(p)
    p.write_bytes(data[:-1])
    with pytest.raises(XModelError):
        xir.Graph.deserialize(p)


def test_a_model_that_cannot_be_memory_mapped_is_read(tmp_path):
    """Regular files are parsed from a memory map; a pipe is read into memory instead."""
    import os
    import threading
    g = build_graph()
    data = g.to_bytes()
    fifo = tmp_path / "pipe.xmodel"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(data,))
    writer.start()
    try:
        h = xir.Graph.deserialize(fifo)
    finally:
        writer.join()
    assert h.to_bytes() == data
    (tmp_path / "m.xmodel").write_bytes(data)
    assert xir.Graph.deserialize(tmp_path / "m.xmodel").to_bytes() == data


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(XModelError, match="no such file"):
        xir.Graph.deserialize(tmp_path / "missing.xmodel")
    with pytest.raises(XModelError, match="is a directory"):
        xir.Graph.deserialize(tmp_path)


def _mutated(mutate):
    from xir.xmodel import graph_to_proto
    m = graph_to_proto(build_graph())
    mutate(m)
    return m.SerializeToString()


@pytest.mark.parametrize("mutate, message", [
    (lambda m: setattr(m.op_node[3], "op_type", "conv9d"), "type 'conv9d', which this toolchain does not know"),
    (lambda m: m.op_node[3].args[0].arg_ops.__setitem__(0, "ghost"), "reads 'ghost', which is not in the model"),
    (lambda m: m.op_node[3].output_tensor.tensor_dim.__setitem__(3, 7), "'conv' \\(conv2d\\): output dims"),
    (lambda m: m.ClearField("subg_root"), "no root subgraph"),
    (lambda m: m.op_node[2].args[0].arg_ops.__setitem__(0, "out_fix"), "cycle"),
])
def test_inconsistent_models_name_the_problem(tmp_path, mutate, message):
    p = tmp_path / "x.xmodel"
    p.write_bytes(_mutated(mutate))
    with pytest.raises(XModelError, match=message):
        xir.Graph.deserialize(p)


def test_written_files_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        p = tmp_path / "m.xmodel"
        build_graph().serialize(p)
    finally:
        os.umask(old)
    assert oct(p.stat().st_mode & 0o777) == oct(0o644)
