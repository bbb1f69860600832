"""Schemas of the `interpolate` group."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.schema.bounds import bounded
from orchestrator.schema.common import NoStageConfig

GROUP = "interpolate"


@dataclass
class FlowInterpolateConfig:
    _target_: str = "stages.interpolate.FlowInterpolator"
    factor: int = bounded(2, 1, 16)
    preset: str = "fast"
    occlusion: float = bounded(2.0, 0, 1000, open_low=True)


@dataclass
class RifeInterpolateConfig:
    _target_: str = "stages.interpolate.rife.RifeInterpolator"
    model: str | None = None
    factor: int = bounded(2, 1, 16)
    precision: str = "auto"
    device: str = "auto"


SCHEMAS = {"none": NoStageConfig, "flow": FlowInterpolateConfig, "rife": RifeInterpolateConfig}
