"""What a running node gets: where to write, what its upstream nodes wrote, the run's models.

The engine runs nodes without knowing what they compute, so the models are behind `Pool`, a
small protocol: the executor asks it to switch model groups between nodes and to measure
memory, a node asks it for a model by name. The implementation (loading, releasing, GPU
memory) lives beside the stages that load models (`stages/diffusion/pool.py`); an executor is
handed a `PoolFactory` (the executor config's `pool`) and calls it in the process that runs
the nodes. `NoModels` serves nodes that load nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

StepCallback = Callable[[int, int], None]


class Pool(Protocol):
    """The run's models: each loaded once by name, released a group at a time."""

    group: str | None

    def __enter__(self) -> Pool: ...

    def __exit__(self, *exc: object) -> None: ...

    def get(self, name: str, loader: Callable[[], Any]) -> Any:
        """The model called `name`, loading it with `loader` the first time it is asked for."""

    def switch(self, group: str | None) -> None:
        """Make room for `group`: release every model of the previous group."""

    def release(self) -> None:
        """Drop every model."""

    def reset_peak_memory(self) -> None:
        """Start measuring a node's peak accelerator memory."""

    def peak_memory_gib(self) -> float | None:
        """The most accelerator memory held since the reset, in GiB (None without one)."""


PoolFactory = Callable[[], Pool]


class NoModels:
    """A pool for nodes that load no model (analysis at plan time, cached nodes)."""

    group: str | None = None

    def __enter__(self) -> NoModels:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def get(self, name: str, loader: Callable[[], Any]) -> Any:
        raise RuntimeError(f"model {name} asked for in a run without a model pool")

    def switch(self, group: str | None) -> None:
        return None

    def release(self) -> None:
        return None

    def reset_peak_memory(self) -> None:
        return None

    def peak_memory_gib(self) -> float | None:
        return None


def _no_steps(done: int, total: int) -> None:
    return None


@dataclass
class NodeContext:
    """What a running node gets: where to write, what its upstream nodes wrote, shared models."""

    node_id: str
    out_dir: Path
    inputs: dict[str, Path]
    models: Pool
    steps: StepCallback = _no_steps
    metrics: dict[str, Any] = field(default_factory=dict)
