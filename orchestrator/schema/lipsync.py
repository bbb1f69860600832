"""Schemas of the `lipsync` group."""

from __future__ import annotations

from orchestrator.schema.common import NoStageConfig

GROUP = "lipsync"
SCHEMAS = {"none": NoStageConfig}
