"""Nodes, edges and cache keys.

A node's key hashes its stage, the stage's code version, the config values it reads, its
upstream nodes' keys and the content of any external file it reads: the same request gives the
same key, and a change anywhere upstream changes every key below it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

from orchestrator.engine.context import NodeContext
from orchestrator.engine.store import canonical_json, sha256_file

KEY_LENGTH = 20


@dataclass
class Node:
    id: str
    stage: str
    run: Callable[[NodeContext], None]
    params: dict[str, Any]
    version: str
    deps: tuple[str, ...] = ()
    files: dict[str, Path] = field(default_factory=dict)
    group: str | None = None
    key: str = ""


class Graph:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def add(self, node: Node) -> Node:
        if node.id in self.nodes:
            raise ValueError(f"duplicate node id {node.id}")
        missing = [dep for dep in node.deps if dep not in self.nodes]
        if missing:
            raise ValueError(f"node {node.id} depends on unknown nodes {missing}")
        self.nodes[node.id] = node
        return node

    def __getitem__(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def sorter(self) -> TopologicalSorter[str]:
        return TopologicalSorter({node.id: node.deps for node in self})

    def assign_keys(self) -> None:
        file_hashes: dict[Path, str] = {}
        for node_id in self.sorter().static_order():
            node = self.nodes[node_id]
            node.key = node_key(node, {dep: self.nodes[dep].key for dep in node.deps}, file_hashes)


def node_key(node: Node, inputs: dict[str, str], file_hashes: dict[Path, str]) -> str:
    """The cache key of `node` given its upstream keys; `file_hashes` memoises file digests."""
    files = {}
    for name, path in node.files.items():
        if path not in file_hashes:
            file_hashes[path] = sha256_file(path)
        files[name] = file_hashes[path]
    payload = {
        "stage": node.stage,
        "version": node.version,
        "params": node.params,
        "inputs": inputs,
        "files": files,
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:KEY_LENGTH]
