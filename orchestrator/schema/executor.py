"""Schemas of the `executor` group."""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "executor"


@dataclass
class LocalExecutorConfig:
    _target_: str = "orchestrator.executors.LocalExecutor"


SCHEMAS = {"local": LocalExecutorConfig}
