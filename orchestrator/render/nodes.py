"""The one way a node builder makes its node: the code version (and the model group) from the
backend that does the work, so no builder repeats the bookkeeping and none can get it wrong."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from orchestrator.engine.context import NodeContext
from orchestrator.engine.graph import Node


def stage_node(
    backend: Any,
    node_id: str,
    run: Callable[[NodeContext], None],
    params: dict[str, Any],
    *,
    stage: str | None = None,
    deps: Iterable[str] = (),
    files: dict[str, Path] | None = None,
    models: bool = False,
    version: str | None = None,
) -> Node:
    """A node of `backend`'s work: stage defaults to the node's id (assemble, mux, ...), the
    version to the backend's, and `models=True` puts it in the backend's model group, which the
    executor runs together so each model loads once."""
    return Node(
        id=node_id,
        stage=stage or node_id,
        run=run,
        params=params,
        version=version or backend.version,
        deps=tuple(deps),
        files=dict(files or {}),
        group=backend.model_group if models else None,
    )
