"""Schemas of the `executor` group."""

from __future__ import annotations

from dataclasses import dataclass, field

GROUP = "executor"


@dataclass
class LocalExecutorConfig:
    _target_: str = "orchestrator.executors.LocalExecutor"


@dataclass
class RayExecutorConfig:
    _target_: str = "orchestrator.ray_executor.RayExecutor"
    address: str | None = None
    workers: int = 0
    gpus_per_worker: float = 1.0
    resources_per_worker: dict[str, float] = field(default_factory=dict)
    num_cpus: int | None = None
    local_resources: dict[str, float] = field(default_factory=dict)


SCHEMAS = {"local": LocalExecutorConfig, "ray": RayExecutorConfig}
