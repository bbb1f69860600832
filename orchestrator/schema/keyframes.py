"""Schemas of the `keyframes` group."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.schema.bounds import bounded
from orchestrator.schema.models import ModelSettings

GROUP = "keyframes"


@dataclass
class DraftKeyframesConfig:
    _target_: str = "stages.keyframes.draft.DraftKeyframes"
    # 0: scale with the frame; Pillow's FreeType refuses sizes far beyond any frame.
    font_size: int = bounded(0, 0, 2048)


@dataclass
class ImageKeyframesConfig:
    _target_: str = "stages.keyframes.images.ImageKeyframes"


@dataclass
class ZitKeyframesConfig(ModelSettings):
    _target_: str = "stages.keyframes.zit.ZitKeyframes"
    model: str = "Tongyi-MAI/Z-Image-Turbo"
    steps: int = bounded(8, 1, 1000)
    guidance_scale: float = bounded(0.0, 0, 100)
    # model: render at about resolution^2 pixels in the job's aspect, covering the job size,
    # then fit; job: render at the job size (rounded up to the model's grid).
    render_at: str = "model"
    resolution: int = bounded(1024, 16, 8192)
    max_sequence_length: int = bounded(512, 1, 8192)
    candidates: int = bounded(1, 1, 64)
    strength: float = bounded(0.6, 0, 1, open_low=True)
    # Sampler and sigma schedule (stages/keyframes/schedulers.py; README "Casts and prompts").
    scheduler: str = "euler"
    sigmas: str = "simple"


SCHEMAS = {"draft": DraftKeyframesConfig, "images": ImageKeyframesConfig, "zit": ZitKeyframesConfig}
