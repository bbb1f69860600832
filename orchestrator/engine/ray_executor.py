"""Ray executor: one actor per GPU, each with its own model pool kept resident, fed independent
nodes as they become ready; artifacts pass through the shared store.

Ray is imported only when this executor is chosen, so a local install needs no Ray.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections import Counter
from typing import Any

from orchestrator.engine import signals
from orchestrator.engine.context import NoModels, PoolFactory
from orchestrator.engine.errors import NodeError, UserError
from orchestrator.engine.executors import run_node, upstream
from orchestrator.engine.graph import Graph, Node
from orchestrator.engine.progress import NodeRecord, Reporter
from orchestrator.engine.store import Store, _pid_alive


class _Worker:
    """One per GPU: keeps its models loaded between the nodes it is given."""

    def __init__(self, root: str, pool: PoolFactory) -> None:
        from pathlib import Path

        self.store = Store(Path(root))
        self.pool = pool()

    def can_see(self, probe: str) -> bool:
        return (self.store.root / probe).is_file()

    def where(self) -> tuple[str, int]:
        return socket.gethostname(), os.getpid()

    def run(self, node: Node, inputs: dict[str, tuple[str, str]]) -> NodeRecord:
        return run_node(node, inputs, self.store, self.pool, lambda done, total: None)


class RayExecutor:
    def __init__(
        self,
        address: str | None = None,
        workers: int = 0,
        gpus_per_worker: float = 1.0,
        resources_per_worker: dict[str, float] | None = None,
        num_cpus: int | None = None,
        local_resources: dict[str, float] | None = None,
        pool: PoolFactory | None = None,
    ) -> None:
        self.address = address
        self.workers = workers
        self.gpus_per_worker = gpus_per_worker
        self.resources_per_worker = dict(resources_per_worker or {})
        self.num_cpus = num_cpus
        self.local_resources = dict(local_resources or {})
        self.pool = pool or NoModels

    def run(
        self, graph: Graph, store: Store, reporter: Reporter, records: list[NodeRecord]
    ) -> None:
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            ray.init(
                address=self.address,
                num_cpus=self.num_cpus if self.address is None else None,
                resources=(self.local_resources or None) if self.address is None else None,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
            # ray.init replaces SIGTERM's handler with one that exits on the spot.
            signals.reinstall()
        actors: list[Any] = []
        workers: list[tuple[str, int]] = []
        try:
            actors = self._start_workers(ray, store)
            workers = ray.get([actor.where.remote() for actor in actors])
            self._schedule(ray, graph, store, reporter, records, actors)
        finally:
            for actor in actors:
                ray.kill(actor)
            if started_here:
                ray.shutdown()
            _clear_temporaries(store, workers)

    def _start_workers(self, ray: Any, store: Store) -> list[Any]:
        count = self.workers or max(1, int(ray.cluster_resources().get("GPU", 0)))
        remote = ray.remote(_Worker).options(
            num_gpus=self.gpus_per_worker,
            resources=self.resources_per_worker or None,
            num_cpus=0,
        )
        actors = [remote.remote(str(store.root), self.pool) for _ in range(count)]
        probe = f".renga-visible-{uuid.uuid4().hex[:8]}"
        (store.root / probe).touch()
        try:
            if not all(ray.get([actor.can_see.remote(probe) for actor in actors])):
                raise UserError(
                    "cache_dir", f"{store.root} is not visible from every Ray worker; "
                    "put the store on storage all nodes share"
                )  # fmt: skip
        finally:
            (store.root / probe).unlink()
        return actors

    def _schedule(
        self,
        ray: Any,
        graph: Graph,
        store: Store,
        reporter: Reporter,
        records: list[NodeRecord],
        actors: list[Any],
    ) -> None:
        reporter.plan(Counter(node.stage for node in graph))
        sorter = graph.sorter()
        sorter.prepare()
        ready: list[str] = []
        idle = list(actors)
        last_group: dict[int, str | None] = {}
        flying: dict[Any, tuple[str, Any]] = {}

        def finish(record: NodeRecord) -> None:
            records.append(record)
            reporter.node_done(record)
            sorter.done(record.id)

        while sorter.is_active():
            ready.extend(sorter.get_ready())
            for node_id in [n for n in ready if _cached(graph[n], store)]:
                ready.remove(node_id)
                node = graph[node_id]
                reporter.node_started(node.stage)
                finish(run_node(node, {}, store, NoModels(), lambda done, total: None))
            while ready and idle:
                node = graph[ready.pop(0)]
                actor = _closest(idle, node.group, last_group)
                idle.remove(actor)
                last_group[id(actor)] = node.group
                reporter.node_started(node.stage)
                flying[actor.run.remote(node, upstream(graph, node))] = (node.id, actor)
            if not flying:
                continue
            done, _ = ray.wait(list(flying), num_returns=1)
            node_id, actor = flying.pop(done[0])
            idle.append(actor)
            finish(_result(ray, done[0], node_id))


def _clear_temporaries(store: Store, workers: list[tuple[str, int]], wait: float = 10.0) -> None:
    """A worker killed mid-node (the run stopped or failed) leaves its node's temporary entry:
    once this machine's workers are gone, remove what they left. (Entries of workers on other
    machines are removed by a later run, a day on.)"""
    if not any(store.root.glob("*/.tmp-*")):
        return
    here = socket.gethostname()
    deadline = time.monotonic() + wait
    for host, pid in workers:
        while host == here and _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    store.sweep()


def _cached(node: Node, store: Store) -> bool:
    return store.lookup(node.stage, node.key) is not None


def _closest(idle: list[Any], group: str | None, last_group: dict[int, str | None]) -> Any:
    """An idle worker that already holds this node's models, else any."""
    for actor in idle:
        if group is not None and last_group.get(id(actor)) == group:
            return actor
    return idle[0]


def _result(ray: Any, ref: Any, node_id: str) -> NodeRecord:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, NodeError):
            raise NodeError(cause.node_id, cause.message, detail=str(exc)) from None
        if isinstance(cause, UserError):
            raise cause from None
        raise NodeError(node_id, f"{type(cause).__name__}: {cause}", detail=str(exc)) from None
    except ray.exceptions.RayActorError:
        raise NodeError(node_id, "its Ray worker died") from None
