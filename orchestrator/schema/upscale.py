"""Schemas of the `upscale` group."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.schema.bounds import bounded
from orchestrator.schema.common import NoStageConfig

GROUP = "upscale"


@dataclass
class ModelUpscaleConfig:
    _target_: str = "stages.upscale.ModelUpscaler"
    model: str | None = None
    tile: int = bounded(512, 16, 8192)
    overlap: int = bounded(32, 0, 1024)
    width: int | None = bounded(None, 16, 16384)
    height: int | None = bounded(None, 16, 16384)
    precision: str = "auto"
    device: str = "auto"


SCHEMAS = {"none": NoStageConfig, "model": ModelUpscaleConfig}
