"""Schemas of the `audio` group."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.schema.common import NoStageConfig

GROUP = "audio"


@dataclass
class TrackAudioConfig:
    _target_: str = "stages.audio.track.SoundtrackAudio"
    rate: int = 48000
    channels: int = 2
    lufs: float | None = -14.0
    fade_in: float = 0.02
    fade_out: float = 0.5
    duck_db: float = 12.0


SCHEMAS = {"none": NoStageConfig, "track": TrackAudioConfig}
