"""Schemas of the `interpolate` group."""

from __future__ import annotations

from orchestrator.schema.common import NoStageConfig

GROUP = "interpolate"
SCHEMAS = {"none": NoStageConfig}
