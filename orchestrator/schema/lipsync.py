"""Schemas of the `lipsync` group."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.schema.bounds import bounded
from orchestrator.schema.common import NoStageConfig

GROUP = "lipsync"


@dataclass
class LipsyncToolConfig:
    """How to drive one external lip-sync program; placeholders are filled per shot."""

    argv: list[str] = field(default_factory=list)
    python: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    input_files: dict[str, str] = field(default_factory=dict)
    output: str = "{output}"
    fps: float = bounded(25.0, 0, 240, open_low=True)
    sample_rate: int = bounded(16000, 8000, 192000)


@dataclass
class ExternalLipsyncConfig:
    _target_: str = "stages.lipsync.ExternalLipsync"
    tool: str = "latentsync"
    root: str | None = None
    python: str | None = None
    # Seconds per shot, at most a week.
    timeout: float = bounded(3600.0, 0, 604800, open_low=True)
    on_failure: str = "fail"
    tools: dict[str, LipsyncToolConfig] = field(default_factory=dict)


SCHEMAS = {"none": NoStageConfig, "external": ExternalLipsyncConfig}
