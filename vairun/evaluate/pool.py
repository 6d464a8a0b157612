"""The local engine of ``vairun eval``: a pool of worker processes, each with one warm GraphRunner,
each reading its own shards from the data set (no input data passes through the driver).

Rules:
- workers are started with ``spawn`` (no state inherited from the driver) and get the model's bytes,
  so a model file changed during the run cannot mix two models;
- a worker holds one shard at a time; a worker that dies (killed, out of memory) is replaced and its
  shard is queued again at the front: a retry, never a lost or double-counted shard. A shard whose
  workers died ``MAX_ATTEMPTS`` times fails the run;
- workers ignore SIGINT, so Ctrl-C reaches the driver alone, which then ends every worker;
- a shard that fails on bad data (a :class:`VairunError` in the worker) fails the run with that line.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections import deque
from multiprocessing.connection import wait

from ..errors import VairunError
from .data import DataSpec
from .errors import EvalFailure
from .worker import ShardResult, ShardWorker

MAX_ATTEMPTS = 3


def _worker_main(conn, model_bytes: bytes, name: str, arch, keep_outputs: bool, spec: DataSpec) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from xir.errors import XirError
    try:
        worker = ShardWorker(model_bytes, name, arch, keep_outputs)
    except Exception as e:
        conn.send(("fail", -1, f"{type(e).__name__}: {e}", isinstance(e, (VairunError, XirError))))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        shard, start, stop = job
        try:
            conn.send(("ok", worker.run(shard, spec.read(start, stop))))
        except (VairunError, XirError) as e:
            conn.send(("fail", shard, str(e), True))
        except Exception as e:
            conn.send(("fail", shard, f"{type(e).__name__}: {e}", False))


class _Slot:
    def __init__(self, ctx, args):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, *args), daemon=True)
        self.proc.start()
        child.close()
        self.shard = None       # (id, start, stop) being run
        self.ready = False

    def stop(self):
        try:
            self.conn.close()
        except OSError:
            pass
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(2)
            if self.proc.is_alive():
                self.proc.kill()
        self.proc.join(1)


class LocalPool:
    """``run(shards)`` yields a :class:`ShardResult` per shard as they finish (any order)."""

    kind = "local"

    def __init__(self, workers: int, model_bytes: bytes, name: str, arch, keep_outputs: bool, spec: DataSpec):
        self.workers = workers
        self._args = (model_bytes, name, arch, keep_outputs, spec)
        self._ctx = mp.get_context("spawn")
        self._slots: list[_Slot] = []
        self.retries = 0

    def worker_pids(self) -> list[int]:
        return [s.proc.pid for s in self._slots if s.proc.is_alive()]

    def run(self, shards):
        queue = deque(shards)
        attempts: dict[int, int] = {}
        self.workers = min(self.workers, len(queue))      # no idle workers: report those that ran
        self._slots = [_Slot(self._ctx, self._args) for _ in range(self.workers)]
        while queue or any(s.shard is not None for s in self._slots):
            for s in self._slots:
                if s.ready and s.shard is None and queue:
                    s.shard = queue.popleft()
                    s.conn.send(s.shard)
            ready = wait([s.conn for s in self._slots] + [s.proc.sentinel for s in self._slots])
            for i, s in enumerate(list(self._slots)):
                died = False
                if s.conn in ready or s.proc.sentinel in ready:
                    try:
                        while s.conn.poll():
                            msg = s.conn.recv()
                            result = self._message(s, msg)
                            if result is not None:
                                yield result
                    except (EOFError, OSError):
                        died = True
                    if not s.proc.is_alive():
                        died = True
                if died:
                    self._replace(i, s, queue, attempts)

    def _message(self, s: _Slot, msg) -> ShardResult | None:
        if msg[0] == "ready":
            s.ready = True
            return None
        if msg[0] == "ok":
            s.shard = None
            return msg[1]
        _, shard, text, user = msg
        where = "loading the model" if shard < 0 else f"shard {shard}"
        if user:
            raise VairunError(text)
        raise EvalFailure(f"a worker failed on {where}: {text}")

    def _replace(self, i: int, s: _Slot, queue: deque, attempts: dict[int, int]) -> None:
        s.stop()
        if s.shard is not None:
            sid = s.shard[0]
            attempts[sid] = attempts.get(sid, 0) + 1
            if attempts[sid] >= MAX_ATTEMPTS:
                raise EvalFailure(f"workers died {attempts[sid]} times on shard {sid} (inputs {s.shard[1]} to "
                                  f"{s.shard[2] - 1}); giving up")
            queue.appendleft(s.shard)
            self.retries += 1
        elif not s.ready:
            raise EvalFailure("a worker died while loading the model (out of memory?)")
        self._slots[i] = _Slot(self._ctx, self._args)

    def close(self) -> None:
        for s in self._slots:
            s.stop()
        self._slots = []
