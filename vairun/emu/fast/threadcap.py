"""A cap on a process-wide thread count shared by every user (no contract rule: a speed device for
blas.py and accel.py).

Rule: the first of nested or concurrent users sets the cap and the last one restores the count that
was in force before it; the ones in between change nothing. The state and its lock live in the
:class:`SharedCap` of the library capped.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable


class SharedCap:
    """``with cap(n):`` caps a thread count at ``n``: ``apply(n)`` sets the cap and returns what
    ``restore(token)`` needs to undo it."""

    def __init__(self, apply: Callable[[int], object], restore: Callable[[object], None],
                 lock: threading.Lock | None = None):
        self._apply, self._restore = apply, restore
        self.lock = lock or threading.Lock()
        self._depth = 0
        self._token = None

    @contextmanager
    def __call__(self, n: int):
        with self.lock:
            if self._depth == 0:
                self._token = self._apply(int(n))
            self._depth += 1
        try:
            yield
        finally:
            with self.lock:
                self._depth -= 1
                if self._depth == 0:
                    self._restore(self._token)
                    self._token = None
