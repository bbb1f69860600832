"""Schemas of the `executor` group."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.schema.bounds import bounded

GROUP = "executor"


@dataclass
class LocalExecutorConfig:
    _target_: str = "orchestrator.engine.executors.LocalExecutor"


@dataclass
class RayExecutorConfig:
    _target_: str = "orchestrator.engine.ray_executor.RayExecutor"
    address: str | None = None
    workers: int = bounded(0, 0, 4096)
    gpus_per_worker: float = bounded(1.0, 0, 64)
    resources_per_worker: dict[str, float] = bounded(low=0, high=1e6, factory=dict)
    num_cpus: int | None = bounded(None, 0, 65536)
    local_resources: dict[str, float] = bounded(low=0, high=1e6, factory=dict)


SCHEMAS = {"local": LocalExecutorConfig, "ray": RayExecutorConfig}
