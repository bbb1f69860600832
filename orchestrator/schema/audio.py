"""Schemas of the `audio` group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass
class MMAudioConfig:
    _target_: str = "stages.audio.mmaudio.stage.MMAudioAudio"
    variant: str = "large_44k_v2"
    weights_dir: str = "models/mmaudio"
    model: str | None = None
    vae: str | None = None
    synchformer: str | None = None
    clip: str = "apple/DFN5B-CLIP-ViT-H-14-384"
    vocoder: str | None = None
    steps: int = 25
    cfg_strength: float = 4.5
    negative_prompt: str = ""
    mask_away_clip: bool = False
    window: float = 8.0
    overlap: float = 1.0
    device: str = "auto"
    dtype: str = "auto"
    duck_db: float = 12.0
    shapes: Any = None


@dataclass
class MixAudioConfig(MMAudioConfig):
    _target_: str = "stages.audio.mmaudio.stage.MixAudio"
    rate: int = 48000
    channels: int = 2
    lufs: float | None = -14.0
    fade_in: float = 0.02
    fade_out: float = 0.5
    effects_db: float = -6.0
    effects_duck_db: float = 9.0


SCHEMAS = {
    "none": NoStageConfig,
    "track": TrackAudioConfig,
    "mmaudio": MMAudioConfig,
    "mix": MixAudioConfig,
}
