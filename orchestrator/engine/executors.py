"""Executors: run a graph's nodes against the store, skipping every node already in it."""

from __future__ import annotations

import errno
import logging
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from orchestrator import __version__
from orchestrator.engine import signals
from orchestrator.engine.context import NodeContext, NoModels, Pool, PoolFactory, StepCallback
from orchestrator.engine.errors import NodeError, RengaError
from orchestrator.engine.graph import Graph, Node
from orchestrator.engine.progress import NodeRecord, Reporter
from orchestrator.engine.store import Store

log = logging.getLogger("renga")


class LocalExecutor:
    """Runs nodes in this process, one at a time, one model group after another."""

    def __init__(self, pool: PoolFactory | None = None) -> None:
        self.pool = pool or NoModels

    def run(
        self, graph: Graph, store: Store, reporter: Reporter, records: list[NodeRecord]
    ) -> None:
        """Run every node, appending a record per finished node to `records` as it finishes."""
        reporter.plan(Counter(node.stage for node in graph))
        sorter = graph.sorter()
        sorter.prepare()
        ready: list[str] = []
        with self.pool() as pool:
            while sorter.is_active():
                ready.extend(sorter.get_ready())
                node = graph[_pick(graph, ready, store, pool.group)]
                ready.remove(node.id)
                reporter.node_started(node.stage)
                record = run_node(
                    node, upstream(graph, node), store, pool, reporter.stepper(node.id),
                    done=records.append,
                )  # fmt: skip
                reporter.node_done(record)
                sorter.done(node.id)


def _pick(graph: Graph, ready: list[str], store: Store, group: str | None) -> str:
    """Cached nodes first, then nodes of the loaded model group, then the next group."""
    for node_id in ready:
        node = graph[node_id]
        if store.lookup(node.stage, node.key) is not None:
            return node_id
    for node_id in ready:
        if graph[node_id].group in (None, group):
            return node_id
    return ready[0]


def upstream(graph: Graph, node: Node) -> dict[str, tuple[str, str]]:
    """Where a node's inputs are in the store: dependency id -> (stage, key)."""
    return {dep: (graph[dep].stage, graph[dep].key) for dep in node.deps}


def run_node(
    node: Node,
    inputs: dict[str, tuple[str, str]],
    store: Store,
    pool: Pool,
    steps: StepCallback,
    done: Callable[[NodeRecord], None] = lambda record: None,
) -> NodeRecord:
    """Run one node unless the store has it; build it in a temporary entry published on success.
    `done` gets the record before a stop signal can land between publishing and recording."""
    manifest = store.lookup(node.stage, node.key)
    if manifest is None:
        with store.lock(node.stage, node.key):
            manifest = store.lookup(node.stage, node.key)
            if manifest is None:
                return _build(node, inputs, store, pool, steps, done)
    with signals.deferred():
        record = NodeRecord(
            node.id, node.stage, node.key, "cached", 0.0, manifest.get("metrics", {})
        )
        done(record)
    return record


def _build(
    node: Node,
    inputs: dict[str, tuple[str, str]],
    store: Store,
    pool: Pool,
    steps: StepCallback,
    done: Callable[[NodeRecord], None],
) -> NodeRecord:
    log.info("%s: running", node.id)
    pool.switch(node.group)
    manifest: dict[str, Any] = {
        "node": node.id,
        "stage": node.stage,
        "key": node.key,
        "version": node.version,
        "params": node.params,
        "inputs": {dep: key for dep, (_, key) in inputs.items()},
        "files": {name: str(path) for name, path in node.files.items()},
        "renga": __version__,
    }
    pool.reset_peak_memory()
    started = time.perf_counter()
    try:
        with ExitStack() as finishing:
            with store.build(node.stage, node.key, manifest) as out_dir:
                ctx = NodeContext(
                    node_id=node.id,
                    out_dir=out_dir,
                    inputs={dep: store.entry(stage, key) for dep, (stage, key) in inputs.items()},
                    models=pool,
                    steps=steps,
                )
                node.run(ctx)
                if (peak := pool.peak_memory_gib()) is not None:
                    ctx.metrics["peak_vram_gib"] = peak
                manifest["metrics"] = ctx.metrics
                manifest["seconds"] = round(time.perf_counter() - started, 3)
                # From here to `done`, a stop signal waits: the entry is published and recorded.
                finishing.enter_context(signals.deferred())
                record = NodeRecord(
                    node.id, node.stage, node.key, "ran", manifest["seconds"], ctx.metrics
                )
            done(record)
    except (RengaError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise NodeError(node.id, explain_failure(exc, store)) from exc
    return record


LOW_MEMORY_HINT = (
    "out of memory; try preset=low_vram (group offload, fp8 weights, VAE tiling) or a smaller "
    "job.width/job.height"
)


def explain_failure(exc: BaseException, store: Store) -> str:
    """What went wrong inside a node, in the words a user can act on."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return LOW_MEMORY_HINT
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = exc.filename or "to the store"
        return f"disk full while writing {where}; free space under {store.root}"
    if isinstance(exc, PermissionError):
        return f"permission denied writing {exc.filename or 'to the store'}"
    return f"{type(exc).__name__}: {exc}"
