"""Schemas of the `mux` group."""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "mux"


@dataclass
class MuxConfig:
    _target_: str = "stages.mux.Muxer"
    codec: str = "libx264"
    container: str = "mp4"
    crf: int = 18
    preset: str = "veryfast"
    prores_profile: int = 3


SCHEMAS = {"mux": MuxConfig}
