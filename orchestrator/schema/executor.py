"""Schemas of the `executor` group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.schema.bounds import bounded

GROUP = "executor"


def _model_pool() -> dict[str, Any]:
    """The pool nodes load models through, made in each process that runs nodes: the engine
    is handed the class and never imports it."""
    return {"_target_": "stages.diffusion.pool.ModelPool", "_partial_": True}


@dataclass
class LocalExecutorConfig:
    _target_: str = "orchestrator.engine.executors.LocalExecutor"
    pool: Any = field(default_factory=_model_pool)


@dataclass
class RayExecutorConfig:
    _target_: str = "orchestrator.engine.ray_executor.RayExecutor"
    address: str | None = None
    workers: int = bounded(0, 0, 4096)
    gpus_per_worker: float = bounded(1.0, 0, 64)
    resources_per_worker: dict[str, float] = bounded(low=0, high=1e6, factory=dict)
    num_cpus: int | None = bounded(None, 0, 65536)
    local_resources: dict[str, float] = bounded(low=0, high=1e6, factory=dict)
    pool: Any = field(default_factory=_model_pool)


SCHEMAS = {"local": LocalExecutorConfig, "ray": RayExecutorConfig}
