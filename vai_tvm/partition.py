"""``partition_for_vitis_ai``: cut a Relax module into DPU partitions and the rest, with TVM's own passes.

Rules:
- ONNX Clip, which TVM imports as two TE computations, is first rewritten as ``relax.clip``
  (``vai_tvm.clip``);
- a DPU pattern is one DPU op with what the compiler fuses into it (conv / dense + constant bias + ReLU,
  LeakyReLU or ReLU6 (a clip to [0, 6]): the activations vaiq fuses; transposed conv likewise; element-wise
  add + ReLU; an image times a computed [N, C, 1, 1] gate; hard-swish and hard-sigmoid on their own; max /
  average / global pool; nearest upsampling by integer factors; channel concat; reshape after a DPU op);
  a match is taken only when ``xir.target.placement.misfit`` accepts its description
  (``vai_tvm.describe``) for the chosen target and no intermediate value leaks out of it;
- ``FuseOpsByPattern`` groups the matches, ``MergeCompositeFunctions`` merges neighbours into maximal
  regions (a model the DPU takes only in parts gives several regions);
- each region becomes an ONNX model (``vai_tvm.to_onnx``) carried, with its description, as a uint8
  constant argument of a ``call_dps_packed`` of ``PACKED`` (``vai_tvm.runtime``), so the partition travels
  inside whatever TVM builds and exports; the region's Relax function leaves the module.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from .dpus import board_of, target_of
from .errors import VaiTvmError
from .tvm_check import require_tvm

tvm = require_tvm()
from tvm import relax  # noqa: E402
from tvm.relax.backend.utils import has_leaking_intermediate_variables  # noqa: E402
from tvm.relax.dpl import is_const, is_op, wildcard  # noqa: E402
from tvm.relax.transform import FusionPattern  # noqa: E402

from vaiq.prepare import FUSE_INTO_ADD, FUSE_INTO_CONV  # noqa: E402
from xir.target.placement import misfit  # noqa: E402

from . import describe as D  # noqa: E402
from .clip import clips_as_relax_op  # noqa: E402
from .record import PART_FORMAT, encode_record  # noqa: E402
from .relax_util import const_value, op_name  # noqa: E402
from .to_onnx import region_to_onnx  # noqa: E402

CODEGEN = "vitis_ai"
PACKED = "vai_tvm.run_partition"
#: a function of the partitioned module returning how many outputs ``main`` gives (``GraphModule``'s
#: ``get_num_outputs`` before any run: a Relax VM executable keeps no return types)
NUM_OUTPUTS = "vai_tvm_num_outputs"
#: ops whose value a reshape may follow into a DPU region (a reshape of a model input stays on the CPU)
DPU_PRODUCERS = ("relax.nn.conv2d", "relax.matmul", "relax.add", "relax.nn.relu", "relax.nn.leakyrelu",
                 "relax.clip", "relax.multiply", "relax.nn.conv2d_transpose", "relax.image.resize2d",
                 "relax.nn.max_pool2d", "relax.nn.avg_pool2d", "relax.mean", "relax.concat")


def _bias():
    return is_const() | is_op("relax.reshape")(is_const(), wildcard())


def _hard_acts(p) -> list:
    """Hard-swish and hard-sigmoid of ``p`` as TVM's ONNX importer writes HardSwish and HardSigmoid:
    ``p * (clip(p + 3, 0, 6) / 6)`` and ``clip(alpha * p + beta, 0, 1)``, each with the annotations whose
    constants ``vai_tvm.describe.lone_activation_desc`` checks. vaiq fuses neither into the op before it
    (``vaiq.prepare.FUSE_INTO_CONV``): they are patterns of their own."""
    add3 = is_op("relax.add")(p, is_const())
    clip6 = is_op("relax.clip")(add3, wildcard(), wildcard())
    div6 = is_op("relax.divide")(clip6, is_const())
    out = [(is_op("relax.multiply")(p, div6), {"hswish_add": add3, "hswish_clip": clip6, "hswish_div": div6})]
    for scaled in (is_op("relax.multiply")(is_const(), p), is_op("relax.multiply")(p, is_const())):
        off = is_op("relax.add")(scaled, is_const())
        out.append((is_op("relax.clip")(off, wildcard(), wildcard()), {"hsig_mul": scaled, "hsig_add": off}))
    return out


#: the Relax form of each activation vaiq fuses (relu6: a clip, judged by its bounds in
#: ``vai_tvm.describe.activation``)
_ACT_FORMS = {"relu": lambda p: is_op("relax.nn.relu")(p), "leaky-relu": lambda p: is_op("relax.nn.leakyrelu")(p),
              "relu6": lambda p: is_op("relax.clip")(p, wildcard(), wildcard())}


def _with_act(p, kinds=FUSE_INTO_CONV):
    """``p`` followed by each activation of ``kinds`` (those vaiq fuses into such an op:
    ``vaiq.prepare.FUSE_INTO_CONV`` / ``FUSE_INTO_ADD``), then ``p`` alone: (pattern, has activation)."""
    return [(_ACT_FORMS[k](p), True) for k in kinds] + [(p, False)]


def _patterns(target, var2val_main, accepted: list | None = None) -> list:
    """The DPU patterns, each with its check; ``accepted`` (when given) collects (pattern, OpDesc) of every
    match a check accepts."""
    out = []

    def add(name, pattern, annotations, check):
        def _check(ctx) -> bool:
            if has_leaking_intermediate_variables(ctx):
                return False
            var2val = dict(var2val_main)
            var2val.update(ctx.matched_bindings)
            try:
                d = check(ctx.annotated_expr, var2val)
            except (TypeError, ValueError):
                # a form the description cannot spell in xir (a symbolic dimension: TypeError from int();
                # attributes xir refuses: a GraphError, a ValueError): left to TVM's CPU build; any other
                # exception is a bug of ours and propagates
                return False
            ok = d is not None and misfit(d, target) is None
            if ok and accepted is not None:
                accepted.append((name, d))
            return ok
        out.append(FusionPattern(f"{CODEGEN}.{name}", pattern, annotations, _check))

    def act(ann):
        return ann["act"] if "act" in ann else None

    # first: a reshape is judged by its producer before that producer is fused
    rs = is_op("relax.reshape")(wildcard(), wildcard())
    add("reshape", rs, {"root": rs},
        lambda a, v: D.reshape_desc(a["root"]) if op_name(v.get(a["root"].args[0])) in DPU_PRODUCERS else None)
    # conv2d [+ bias] [+ activation]
    for with_bias in (True, False):
        conv = is_op("relax.nn.conv2d")(wildcard(), is_const())
        body = is_op("relax.add")(conv, _bias()) if with_bias else conv
        for p, has_act in _with_act(body):
            ann = {"root": conv, **({"act": p} if has_act else {})}
            add(f"conv2d{'_bias' if with_bias else ''}{'_act' if has_act else ''}", p, ann,
                lambda a, v, b=with_bias: D.conv_desc(a["root"], act(a), b))
    # transposed conv2d [+ bias] [+ activation]
    for with_bias in (True, False):
        tconv = is_op("relax.nn.conv2d_transpose")(wildcard(), is_const())
        body = is_op("relax.add")(tconv, _bias()) if with_bias else tconv
        for p, has_act in _with_act(body):
            ann = {"root": tconv, **({"act": p} if has_act else {})}
            add(f"conv2d_transpose{'_bias' if with_bias else ''}{'_act' if has_act else ''}", p, ann,
                lambda a, v, b=with_bias: D.conv_transpose_desc(a["root"], act(a), b))
    # dense: matmul with constant weights [+ bias] [+ activation]
    for with_bias in (True, False):
        mm = is_op("relax.matmul")(wildcard(), is_const() | is_op("relax.permute_dims")(is_const()))
        body = is_op("relax.add")(mm, _bias()) if with_bias else mm
        for p, has_act in _with_act(body):
            ann = {"root": mm, **({"act": p} if has_act else {})}
            add(f"dense{'_bias' if with_bias else ''}{'_act' if has_act else ''}", p, ann,
                lambda a, v, b=with_bias: D.linear_desc(a["root"], act(a), b))
    # element-wise add of two computed tensors [+ activation]
    elt = is_op("relax.add")(wildcard(), wildcard())
    for p, has_act in _with_act(elt, FUSE_INTO_ADD):
        ann = {"root": elt, **({"act": p} if has_act else {})}
        add(f"add{'_act' if has_act else ''}", p, ann,
            lambda a, v: None if any(const_value(x, v) is not None for x in a["root"].args)
            else D.add_desc(a["root"], act(a)))
    # a hard-swish / hard-sigmoid the op before it does not fuse (a separate activation of the DPU)
    for p, act_ann in _hard_acts(wildcard()):
        add("hswish" if "hswish_add" in act_ann else "hsigmoid", p, {"act": p, **act_ann},
            lambda a, v: D.lone_activation_desc(a, v))
    # element-wise multiply of two computed tensors (a squeeze-excite gate: an image times [N, C, 1, 1])
    mul = is_op("relax.multiply")(wildcard(), wildcard())
    add("multiply", mul, {"root": mul},
        lambda a, v: None if any(const_value(x, v) is not None for x in a["root"].args)
        else D.mul_desc(a["root"]))
    for name in ("max_pool2d", "avg_pool2d"):
        p = is_op(f"relax.nn.{name}")(wildcard())
        add(name, p, {"root": p}, lambda a, v: D.pool_desc(a["root"]))
    up = is_op("relax.image.resize2d")(wildcard(), wildcard())
    add("upsample", up, {"root": up}, lambda a, v: D.upsample_desc(a["root"]))
    mean = is_op("relax.mean")(wildcard())
    add("global_avg_pool", mean, {"root": mean}, lambda a, v: D.global_mean_desc(a["root"]))
    cat = is_op("relax.concat")(wildcard())
    add("concat", cat, {"root": cat}, lambda a, v: D.concat_desc(a["root"]))
    return out


def dpu_matches(mod, dpu: str = "DPUCZDX8G-zcu104") -> list:
    """(pattern name, :class:`xir.target.placement.OpDesc`) of each match the ``dpu`` takes in ``mod``'s
    ``main``, in the order ``FuseOpsByPattern`` accepted them (what ``partition_for_vitis_ai`` fuses)."""
    accepted: list = []
    mod = relax.transform.ConvertToDataflow()(clips_as_relax_op(mod))
    relax.transform.FuseOpsByPattern(_patterns(target_of(dpu), _main_var2val(mod), accepted), bind_constants=True,
                                     annotate_codegen=False)(mod)
    return accepted


def _main_var2val(mod) -> dict:
    return relax.analysis.get_var2val(mod["main"])


def partition_for_vitis_ai(mod, params: dict | None = None, dpu: str = "DPUCZDX8G-zcu104"):
    """The Relax module ``mod`` with every maximal region the ``dpu`` takes replaced by a DPU partition
    (quantized and compiled on the fly by :class:`vai_tvm.GraphModule`); the rest stays for TVM's CPU build.
    ``params`` (name -> array), as the original took them, are bound into ``main`` as constants first."""
    if not isinstance(mod, tvm.IRModule):
        raise VaiTvmError(f"partition_for_vitis_ai takes the tvm.IRModule from relax.frontend "
                          f"(e.g. from_onnx), got {type(mod).__name__}")
    if "main" not in [gv.name_hint for gv in mod.get_global_vars()]:
        raise VaiTvmError("the module has no 'main' function; give the module relax.frontend.onnx.from_onnx returns")
    board = board_of(dpu)
    target = target_of(dpu)
    if params:
        mod = relax.transform.BindParams("main", {k: tvm.runtime.tensor(np.asarray(v)) for k, v in params.items()})(mod)
    mod = relax.transform.ConvertToDataflow()(clips_as_relax_op(mod))
    seq = tvm.transform.Sequential([
        relax.transform.FuseOpsByPattern(_patterns(target, _main_var2val(mod)), bind_constants=True,
                                         annotate_codegen=False),
        relax.transform.MergeCompositeFunctions(),
    ])
    fused = seq(mod)
    return _lower_regions(fused, board, target)


def _regions(mod) -> list:
    """The DPU regions' global vars in the order ``main`` calls them (partition i runs before i + 1)."""
    regions = set()
    for gv in mod.get_global_vars():
        f = mod[gv]
        if isinstance(f, relax.Function) and f.attrs is not None and "Codegen" in f.attrs \
                and str(f.attrs["Codegen"]) == CODEGEN:
            regions.add(gv.name_hint)
    order = []
    for block in mod["main"].body.blocks:
        for b in block.bindings:
            v = b.value
            if isinstance(v, tvm.ir.Call) and isinstance(v.op, relax.GlobalVar) and v.op.name_hint in regions \
                    and v.op not in order:
                order.append(v.op)
    return order


@relax.expr_functor.mutator
class _Lower(relax.PyExprMutator):
    def __init__(self, mod, calls: dict):
        super().__init__(mod)
        self.calls = calls

    def visit_call_(self, call):
        call = super().visit_call_(call)
        if isinstance(call.op, relax.GlobalVar) and call.op.name_hint in self.calls:
            meta, outs = self.calls[call.op.name_hint]
            out_ty = outs if len(outs) > 1 else outs[0]
            return relax.call_dps_packed(PACKED, [meta, *call.args], out_ty=out_ty)
        return call


def _lower_regions(mod, board: str, target):
    regions = _regions(mod)
    calls = {}
    index = 0
    model_key = hashlib.md5()
    lowered = []
    for gv in regions:
        func = mod[gv]
        onnx_model, in_shapes, out_shapes = region_to_onnx(func, f"dpu{index}")
        onnx_bytes = onnx_model.SerializeToString()
        header = {"format": PART_FORMAT, "index": index, "name": f"dpu{index}", "dpu": board,
                  "target": target.name, "fingerprint": target.fingerprint_hex,
                  "inputs": [list(s) for s in in_shapes], "outputs": [list(s) for s in out_shapes],
                  "onnx_md5": hashlib.md5(onnx_bytes).hexdigest()}
        model_key.update(json.dumps(header, sort_keys=True).encode())
        lowered.append((gv, header, onnx_bytes, out_shapes))
        index += 1
    key = model_key.hexdigest()
    for gv, header, onnx_bytes, out_shapes in lowered:
        header["model_key"] = key
        header["partitions"] = len(lowered)
        blob = encode_record(header, onnx_bytes)
        meta = relax.const(np.frombuffer(blob, np.uint8))
        outs = [relax.TensorType(list(s), "float32") for s in out_shapes]
        calls[gv.name_hint] = (meta, outs)
    new_main = _Lower(mod, calls).visit_expr(mod["main"])
    out = tvm.IRModule({gv: f for gv, f in mod.functions_items() if gv.name_hint not in calls}, attrs=mod.attrs)
    out["main"] = new_main
    out[NUM_OUTPUTS] = _num_outputs_func(new_main)
    out = relax.transform.DeadCodeElimination()(out)
    return out


def _num_outputs_func(main):
    """The public function ``NUM_OUTPUTS``: the number of tensors ``main`` returns (a tuple's fields, else 1),
    as ``GraphModule`` lists them."""
    ret = main.ret_ty
    n = len(ret.fields) if isinstance(ret, relax.TupleType) else 1
    return relax.Function([], relax.prim_value(n)).with_attr("global_symbol", NUM_OUTPUTS)
