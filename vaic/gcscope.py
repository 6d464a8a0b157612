"""``young_objects_only``: while the compiler runs, the cyclic garbage collector looks only at objects
created during the run.

Rule: on entry every object the process already tracks (a caller's torch models, earlier compile
results ...) is moved to the collector's permanent generation (``gc.freeze``) and on exit moved back
(``gc.unfreeze``), so the collections the compiler's many allocations trigger do not traverse them
again and again, while garbage made during the run (the loaded float graph, for one) is still
collected as usual. Nothing is done when the collector is disabled or when the caller has frozen
objects itself (its freeze is left as it is).
"""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def young_objects_only():
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
