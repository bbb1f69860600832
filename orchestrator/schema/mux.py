"""Schemas of the `mux` group."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.schema.bounds import bounded

GROUP = "mux"


@dataclass
class MuxConfig:
    _target_: str = "stages.mux.Muxer"
    codec: str = "libx264"
    container: str = "mp4"
    crf: int = bounded(18, 0, 51)
    preset: str = "veryfast"
    prores_profile: int = bounded(3, 0, 5)


SCHEMAS = {"mux": MuxConfig}
