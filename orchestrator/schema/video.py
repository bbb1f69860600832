"""Schemas of the `video` group."""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "video"


@dataclass
class DraftVideoConfig:
    _target_: str = "stages.video.draft.DraftVideo"
    frames: int = 81
    fps: float = 16.0
    size_multiple: int = 16
    zoom: float = 0.08
    pan: float = 0.05


SCHEMAS = {"draft": DraftVideoConfig}
