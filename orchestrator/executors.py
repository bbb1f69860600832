"""Executors: run a graph's nodes against the store, skipping every node already in it."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from orchestrator import __version__
from orchestrator.errors import NodeError, RengaError
from orchestrator.graph import Graph, Node
from orchestrator.models import ModelPool
from orchestrator.progress import NodeRecord, Reporter
from orchestrator.stage import NodeContext
from orchestrator.store import Store


class LocalExecutor:
    """Runs nodes in this process, one at a time, one model group after another."""

    def run(
        self, graph: Graph, store: Store, reporter: Reporter, records: list[NodeRecord]
    ) -> None:
        """Run every node, appending a record per finished node to `records` as it finishes."""
        reporter.plan(Counter(node.stage for node in graph))
        sorter = graph.sorter()
        sorter.prepare()
        ready: list[str] = []
        with ModelPool() as pool:
            while sorter.is_active():
                ready.extend(sorter.get_ready())
                node = graph[_pick(graph, ready, store, pool.group)]
                ready.remove(node.id)
                records.append(run_node(node, graph, store, pool, reporter))
                reporter.node_done(records[-1])
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


def run_node(
    node: Node, graph: Graph, store: Store, pool: ModelPool, reporter: Reporter
) -> NodeRecord:
    """Run one node unless the store has it; build it in a temporary entry published on success."""
    manifest = store.lookup(node.stage, node.key)
    if manifest is None:
        with store.lock(node.stage, node.key):
            manifest = store.lookup(node.stage, node.key)
            if manifest is None:
                return _build(node, graph, store, pool, reporter)
    return NodeRecord(node.id, node.stage, node.key, "cached", 0.0, manifest.get("metrics", {}))


def _build(
    node: Node, graph: Graph, store: Store, pool: ModelPool, reporter: Reporter
) -> NodeRecord:
    pool.switch(node.group)
    inputs = {dep: store.entry(graph[dep].stage, graph[dep].key) for dep in node.deps}
    manifest: dict[str, Any] = {
        "node": node.id,
        "stage": node.stage,
        "key": node.key,
        "version": node.version,
        "params": node.params,
        "inputs": {dep: graph[dep].key for dep in node.deps},
        "files": {name: str(path) for name, path in node.files.items()},
        "renga": __version__,
    }
    started = time.perf_counter()
    try:
        with store.build(node.stage, node.key, manifest) as out_dir:
            ctx = NodeContext(
                node_id=node.id,
                out_dir=out_dir,
                inputs=inputs,
                models=pool,
                steps=lambda done, total: reporter.steps(done, total, node.id),
            )
            node.run(ctx)
            manifest["metrics"] = ctx.metrics
            manifest["seconds"] = round(time.perf_counter() - started, 3)
    except (RengaError, KeyboardInterrupt):
        raise
    except MemoryError:
        raise NodeError(node.id, "out of memory") from None
    except Exception as exc:
        raise NodeError(node.id, f"{type(exc).__name__}: {exc}") from exc
    return NodeRecord(node.id, node.stage, node.key, "ran", manifest["seconds"], ctx.metrics)
