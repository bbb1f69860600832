"""Schemas of the `audio` group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.schema.bounds import bounded
from orchestrator.schema.common import NoStageConfig

MAX_RATE = 192000

GROUP = "audio"


@dataclass
class LevelConfig:
    """How a soundtrack is levelled: `audio=track`, and the music under `audio=mix`."""

    rate: int = bounded(48000, 8000, MAX_RATE)
    channels: int = bounded(2, 1, 2)
    lufs: float | None = bounded(-14.0, -70, 0)
    fade_in: float = bounded(0.02, 0, 60)
    fade_out: float = bounded(0.5, 0, 60)


@dataclass
class TrackAudioConfig(LevelConfig):
    _target_: str = "stages.audio.track.SoundtrackAudio"
    duck_db: float = bounded(12.0, 0, 60)


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
    steps: int = bounded(25, 1, 1000)
    cfg_strength: float = bounded(4.5, 0, 100)
    negative_prompt: str = ""
    mask_away_clip: bool = False
    window: float = bounded(8.0, 0, 60, open_low=True)
    overlap: float = bounded(1.0, 0, 30)
    device: str = "auto"
    dtype: str = "auto"
    duck_db: float = bounded(12.0, 0, 60)
    shapes: Any = None


@dataclass
class MixAudioConfig(MMAudioConfig, LevelConfig):
    _target_: str = "stages.audio.mmaudio.stage.MixAudio"
    effects_db: float = bounded(-6.0, -60, 20)
    effects_duck_db: float = bounded(9.0, 0, 60)


@dataclass
class NativeAudioConfig(LevelConfig):
    _target_: str = "stages.audio.native.NativeAudio"
    # The crossover at a cut between two clips' sounds (shared frames cross over their length).
    seam_fade: float = bounded(0.05, 0, 5, open_low=True)
    # Under a soundtrack: the clips' sound this far below it, ducked by `native_duck_db` where
    # the music plays.
    native_db: float = bounded(-6.0, -60, 20)
    native_duck_db: float = bounded(9.0, 0, 60)
    duck_db: float = bounded(12.0, 0, 60)


SCHEMAS = {
    "none": NoStageConfig,
    "track": TrackAudioConfig,
    "mmaudio": MMAudioConfig,
    "mix": MixAudioConfig,
    "native": NativeAudioConfig,
}
