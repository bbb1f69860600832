"""Schemas of the `lipsync` group."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    fps: float = 25.0
    sample_rate: int = 16000


@dataclass
class ExternalLipsyncConfig:
    _target_: str = "stages.lipsync.ExternalLipsync"
    tool: str = "latentsync"
    root: str | None = None
    python: str | None = None
    timeout: float = 3600.0
    on_failure: str = "fail"
    tools: dict[str, LipsyncToolConfig] = field(default_factory=dict)


SCHEMAS = {"none": NoStageConfig, "external": ExternalLipsyncConfig}
