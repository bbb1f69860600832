"""Schemas of the `video` group."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.schema.models import ModelSettings

GROUP = "video"


@dataclass
class DriftConfig:
    """Synthetic drift per clip, as fractions: a warm colour cast, a brightness creep, and a
    jump of the picture right after the start frame (0 = off)."""

    color: float = 0.0
    brightness: float = 0.0
    jump: float = 0.0


@dataclass
class DraftVideoConfig:
    _target_: str = "stages.video.draft.DraftVideo"
    frames: int = 81
    fps: float = 16.0
    size_multiple: int = 16
    zoom: float = 0.08
    pan: float = 0.05
    drift: DriftConfig = field(default_factory=DriftConfig)


@dataclass
class WanVideoConfig(ModelSettings):
    _target_: str = "stages.video.wan.Wan22I2V"
    model: str = "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
    # Single-file low-noise expert; `transformer` is the high-noise one.
    transformer_2: str | None = None
    # Folder or repo id whose transformer config describes the single files (default: model).
    transformer_config: str | None = None
    frames: int = 81
    fps: float = 16.0
    steps: int = 40
    guidance_scale: float = 3.5
    guidance_scale_2: float | None = 3.5
    boundary_ratio: float | None = 0.9
    shift: float = 5.0
    max_sequence_length: int = 512


SCHEMAS = {
    "draft": DraftVideoConfig,
    "wan22_i2v_a14b": WanVideoConfig,
    "wan22_ti2v_5b": WanVideoConfig,
}
