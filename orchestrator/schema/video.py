"""Schemas of the `video` group."""

from __future__ import annotations

from dataclasses import dataclass, field

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


SCHEMAS = {"draft": DraftVideoConfig}
