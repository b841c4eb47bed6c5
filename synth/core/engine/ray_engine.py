"""``--engine ray``: long-lived Ray actors (one worker each, holding ``--cpus-per-worker`` / ``--gpus-per-worker``)
pull units one at a time from the driver, on whatever nodes the cluster has.

``--ray-address`` unset starts a local Ray instance (no dashboard) sized to this machine; ``auto`` or
``HOST:PORT`` joins a running cluster (``ray start --head`` / KubeRay). An actor whose process or node dies takes
its unit with it: the unit is handed to another (new) actor, at most ``max_retries`` more times. Ray is imported
only when this engine runs (the ``cluster`` extra).
"""

from __future__ import annotations

import collections
import os
from typing import Callable, Dict, Iterator, Optional

from .base import Engine, EngineSetupError, Job, UnitOutcome, WorkerContext, node_name, register_engine
from .host import WorkerHost
from .marker import root_marker

__all__ = ["RayEngine", "ensure_ray"]


def ensure_ray(address: Optional[str], num_cpus: Optional[int] = None):
    """Import Ray and connect: the running instance if this process already has one, else ``address`` (a cluster),
    else a new local instance without dashboard. Returns the ``ray`` module.

    Raises:
        EngineSetupError: Ray is not installed, or the cluster cannot be reached.
    """
    try:
        import ray
    except ImportError:
        raise EngineSetupError("--engine ray needs Ray: pip install '.[cluster]' (ray[default]>=2.9)") from None
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, include_dashboard=False, log_to_driver=True)
            else:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=True)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise EngineSetupError(f"--ray-address {address or '(local)'}: cannot start or join Ray: {e}") from None
    return ray


class _Sink:
    """Progress reports of every worker (fire-and-forget ``add``), collected by the driver with ``take``."""

    def __init__(self):
        self.msgs: list = []

    def add(self, msg) -> None:
        self.msgs.append(msg)

    def take(self) -> list:
        msgs, self.msgs = self.msgs, []
        return msgs


class _Actor:
    """A Ray actor around one :class:`WorkerHost`."""

    def __init__(self, make_worker, marker, index: int, sink):
        import ray

        report = (lambda n: sink.add.remote(n)) if sink is not None else (lambda n: None)
        gpus = [int(g) for g in ray.get_gpu_ids()]
        self.host = WorkerHost(make_worker, marker, WorkerContext(node_name(), index, gpus, report))

    def setup(self):
        try:
            return True, self.host.setup(), os.getpid()
        except EngineSetupError as e:
            return False, str(e), os.getpid()

    def run(self, unit):
        return self.host.run(unit)

    def close(self) -> None:
        self.host.close()


@register_engine
class RayEngine(Engine):
    """Units on ``job.workers`` Ray actors, placed by Ray wherever their CPUs / GPUs are free (actors that do not
    fit yet wait for room; a backend that allows one worker, e.g. Unreal's, stays at one)."""

    name = "ray"

    def _count(self, ray, workers: int, units: int) -> int:
        """``workers`` actors (at most one per unit); an error when the cluster cannot hold even one."""
        res = ray.cluster_resources()
        if res.get("CPU", 0) < self.settings.cpus_per_worker or res.get("GPU", 0) < self.settings.gpus_per_worker:
            raise EngineSetupError(f"the Ray cluster has {res.get('CPU', 0):g} CPUs and {res.get('GPU', 0):g} GPUs: "
                                   f"not one worker of --cpus-per-worker {self.settings.cpus_per_worker:g} "
                                   f"--gpus-per-worker {self.settings.gpus_per_worker:g} fits")
        return max(1, min(workers, units))

    def run(self, job: Job, on_report: Optional[Callable[[int], None]] = None) -> Iterator[UnitOutcome]:
        units = list(job.units)
        if not units:
            return
        s = self.settings
        ray = ensure_ray(s.ray_address, None if s.ray_address else os.cpu_count())
        from ray.exceptions import RayActorError

        actor_cls = ray.remote(_Actor).options(num_cpus=s.cpus_per_worker, num_gpus=s.gpus_per_worker,
                                               max_restarts=0, max_task_retries=0)
        sink = ray.remote(_Sink).options(num_cpus=0).remote() if on_report is not None else None
        n_workers = self._count(ray, job.workers, len(units))
        made = [0]
        self.pids: Dict = {}  # actor -> process id (tests kill one)

        def start(marker):
            made[0] += 1
            a = actor_cls.remote(job.make_worker, marker, made[0] - 1, sink)
            return a

        def ready(a) -> None:
            try:
                ok, msg, pid = ray.get(a.setup.remote())
            except RayActorError as e:
                raise EngineSetupError(f"a {job.name} worker died while starting: {e}") from None
            if not ok:
                raise EngineSetupError(msg)
            self.pids[a] = pid

        def drain() -> None:
            if sink is not None:
                for msg in ray.get(sink.take.remote()):
                    on_report(msg)

        with root_marker(job.root) as marker:
            idle = [start(marker) for _ in range(n_workers)]
            for a in idle:
                ready(a)
            todo = collections.deque(range(len(units)))
            attempts = [0] * len(units)
            inflight: Dict = {}  # ObjectRef -> (unit index, actor)
            try:
                while todo or inflight:
                    while todo and idle:
                        i, a = todo.popleft(), idle.pop()
                        attempts[i] += 1
                        inflight[a.run.remote(units[i])] = (i, a)
                    done, _ = ray.wait(list(inflight), num_returns=1, timeout=0.2)
                    drain()
                    for ref in done:
                        i, a = inflight.pop(ref)
                        try:
                            ok, value, error, node, secs, fatal = ray.get(ref)
                        except RayActorError as e:  # the worker's process or node died under the unit
                            self.pids.pop(a, None)
                            ray.kill(a, no_restart=True)  # unreachable but alive: no second writer on its unit
                            if attempts[i] <= s.max_retries:
                                todo.appendleft(i)
                            else:
                                yield UnitOutcome(units[i], False, None, f"its worker died {attempts[i]} time(s); "
                                                  f"last: {str(e).splitlines()[0]}", "", attempts[i])
                            a = start(marker)  # a replacement, wherever Ray places it
                            ready(a)
                            idle.append(a)
                            continue
                        idle.append(a)
                        yield UnitOutcome(units[i], ok, value, error, node, attempts[i], secs, fatal)
                drain()
                for a in idle:
                    try:
                        ray.get(a.close.remote())
                    except RayActorError:
                        pass
            finally:
                for a in list(idle) + [a for _, a in inflight.values()]:
                    ray.kill(a)
                if sink is not None:
                    ray.kill(sink)
