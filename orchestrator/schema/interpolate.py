"""Schemas of the `interpolate` group."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.schema.common import NoStageConfig

GROUP = "interpolate"


@dataclass
class FlowInterpolateConfig:
    _target_: str = "stages.interpolate.FlowInterpolator"
    factor: int = 2
    preset: str = "fast"
    occlusion: float = 2.0


SCHEMAS = {"none": NoStageConfig, "flow": FlowInterpolateConfig}
