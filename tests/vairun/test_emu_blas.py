"""The BLAS cap of the fast executor (vairun/emu/fast/blas.py, through threadpoolctl) reaches numpy's
BLAS when set from a worker thread, as the batch split sets it, and is restored afterwards."""
import threading

import numpy as np
from threadpoolctl import threadpool_info

from vairun.emu.fast import blas


def _numpy_blas_threads() -> list[int]:
    np.ones((2, 2)) @ np.ones((2, 2))
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_cap_from_a_worker_thread_reaches_numpy_and_is_restored():
    before = _numpy_blas_threads()
    assert before, "threadpoolctl sees no BLAS in numpy, so vairun/emu/fast/blas.py cannot cap its threads"
    blas.set_threads(2)
    seen = {}

    def work():
        with blas.limited(1):
            seen["inside"] = _numpy_blas_threads()
            with blas.limited(1):       # nested use keeps the cap
                seen["nested"] = _numpy_blas_threads()
            seen["after nested"] = _numpy_blas_threads()

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen == {"inside": [1] * len(before), "nested": [1] * len(before), "after nested": [1] * len(before)}
    assert _numpy_blas_threads() == [2] * len(before)
    assert blas.get_threads() == 2
    blas.set_threads(min(before))
