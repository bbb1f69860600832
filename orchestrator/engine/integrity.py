"""Which store entries a run must hash before it starts, and what happens to a corrupt one.

A lookup trusts an entry whose files have the manifest's sizes; a flipped byte keeps the size.
Hashing every cached entry on every run would make a no-op rerun read the whole store, so a run
hashes only where a bad byte would spread: entries that feed a node that runs, and entries the
run publishes. A corrupt one is named in a warning, moved aside and rebuilt like a missing one;
its consumers are then rebuilt from the new entry, and the entries that one reads are hashed in
turn. Everything here is the driver's work before the executor starts, so the local and the Ray
executor behave alike.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from orchestrator.engine.graph import Graph
from orchestrator.engine.store import Damage, Store


def warn(damage: Damage, aside: Path | None) -> None:
    """One line on stderr naming the stage, key and file."""
    where = f"moved to {aside}" if aside is not None else "already replaced"
    print(
        f"warning: corrupt store entry {damage.line()}; {where}; rebuilding it",
        file=sys.stderr,
    )


def check_before_run(
    graph: Graph,
    store: Store,
    published: Iterable[str],
    report: Callable[[Damage, Path | None], None] = warn,
) -> list[Damage]:
    """Hash the cached entries this run reads or publishes; set aside the corrupt ones so the
    executor rebuilds them. Touches every cached entry of the graph (its last use, for gc)."""
    cached = set()
    for node in graph:
        if store.lookup(node.stage, node.key) is not None:
            cached.add(node.id)
            store.touch(node.stage, node.key)
    runs = {node.id for node in graph if node.id not in cached}
    pending = [n for n in published if n in cached]
    pending += [dep for node_id in runs for dep in graph[node_id].deps if dep in cached]
    checked: set[str] = set()
    found: list[Damage] = []
    while pending:
        node_id = pending.pop()
        if node_id in checked:
            continue
        checked.add(node_id)
        node = graph[node_id]
        damage = store.intact(node.stage, node.key)
        if damage is None:
            continue
        found.append(damage)
        report(damage, store.set_aside(node.stage, node.key))
        runs.add(node_id)
        # Now it runs, so what it reads must be sound too.
        pending += [dep for dep in node.deps if dep in cached and dep not in runs]
    return found
