"""The Ray engine of ``vairun eval``: a pool of Ray actors, each loading the compiled model once.

Rules:
- the model's bytes are put into Ray's object store once and every actor is built from that object
  (no shared file system is needed); the driver reads each shard and passes it to an actor, so the
  inputs travel through the object store too;
- at most two shards are in flight per actor (one running, one waiting), so the driver's memory stays
  flat for any data-set size;
- an actor that dies is replaced by a new one and each shard it held is queued again at the front (a
  retry, never a lost or double-counted shard); a shard whose actors died ``MAX_ATTEMPTS`` times
  fails the run;
- a shard that fails on bad data fails the run with that line (:class:`VairunError`).
Ray is imported only when this engine is used (an optional extra).
"""
from __future__ import annotations

import os
from collections import deque

from ..errors import VairunError
from .data import DataSpec
from .errors import EvalFailure
from .worker import ShardWorker

MAX_ATTEMPTS = 3
IN_FLIGHT = 2


class EvalActor:
    """The actor's body (made a Ray actor class by :class:`RayPool`)."""

    def __init__(self, model_bytes: bytes, name: str, arch, keep_outputs: bool):
        self.worker = ShardWorker(model_bytes, name, arch, keep_outputs)

    def pid(self) -> int:
        return os.getpid()

    def run(self, shard: int, x):
        return self.worker.run(shard, x)


class RayPool:
    kind = "ray"

    def __init__(self, ray, workers: int, model_bytes: bytes, name: str, arch, keep_outputs: bool, spec: DataSpec):
        self.ray = ray
        self.workers = workers
        self.spec = spec
        self._cls = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(EvalActor)
        self._model = ray.put(model_bytes)
        self._args = (name, arch, keep_outputs)
        self._actors: list = []
        self.retries = 0

    def _new_actor(self):
        return self._cls.remote(self._model, *self._args)

    def worker_pids(self) -> list[int]:
        return self.ray.get([a.pid.remote() for a in self._actors])

    def run(self, shards):
        ray = self.ray
        from ray.exceptions import RayActorError, RayTaskError
        queue = deque(shards)
        attempts: dict[int, int] = {}
        self.workers = min(self.workers, len(queue))      # no idle actors: report those that ran
        self._actors = [self._new_actor() for _ in range(self.workers)]
        try:
            ray.get([a.pid.remote() for a in self._actors])     # every actor has loaded the model
        except RayTaskError as e:
            raise self._cause(e, "loading the model") from None
        flight: dict = {}                                     # ref -> (actor index, actor, shard)
        load = [0] * len(self._actors)
        while queue or flight:
            for i in range(len(self._actors)):
                while load[i] < IN_FLIGHT and queue:
                    shard = queue.popleft()
                    ref = self._actors[i].run.remote(shard[0], self.spec.read(shard[1], shard[2]))
                    flight[ref] = (i, self._actors[i], shard)
                    load[i] += 1
            done, _ = ray.wait(list(flight), num_returns=1)
            for ref in done:
                i, actor, shard = flight.pop(ref)
                if actor is self._actors[i]:
                    load[i] -= 1
                try:
                    yield ray.get(ref)
                except RayTaskError as e:
                    raise self._cause(e, f"shard {shard[0]}") from None
                except RayActorError:
                    attempts[shard[0]] = attempts.get(shard[0], 0) + 1
                    if attempts[shard[0]] >= MAX_ATTEMPTS:
                        raise EvalFailure(f"Ray actors died {attempts[shard[0]]} times on shard {shard[0]} "
                                          f"(inputs {shard[1]} to {shard[2] - 1}); giving up") from None
                    queue.appendleft(shard)
                    self.retries += 1
                    if actor is self._actors[i]:      # the first failure seen from this actor: replace it
                        self._actors[i] = self._new_actor()
                        load[i] = 0

    @staticmethod
    def _cause(e, where: str) -> Exception:
        from xir.errors import XirError
        cause = getattr(e, "cause", None)
        if isinstance(cause, (VairunError, XirError)):
            return VairunError(str(cause))
        return EvalFailure(f"a Ray actor failed on {where}: {type(cause or e).__name__}: {cause or e}")

    def close(self) -> None:
        for a in self._actors:
            try:
                self.ray.kill(a)
            except Exception:
                pass
        self._actors = []
