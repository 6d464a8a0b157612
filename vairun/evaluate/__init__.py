"""Data-set evaluation of a compiled model (``vairun eval``), on a local process pool or on Ray.

    from vairun.evaluate import evaluate
    res = evaluate("compile_output/net.xmodel", "val/", preprocess="imagenet", workers=2)
    print(res.top1, res.images_per_s, res.board["fps"])

Modules: :mod:`.data` (what DATA may be, preprocessing, labels), :mod:`.worker` (one warm runner per
worker), :mod:`.pool` (local processes), :mod:`.ray_engine` (Ray actors), :mod:`.store` (finished
shards on disk, ``--resume``, OUT.npz), :mod:`.run` (the driver).
"""
from .errors import EvalFailure, EvalInterrupted
from .run import EvalResult, evaluate

__all__ = ["evaluate", "EvalResult", "EvalFailure", "EvalInterrupted"]
