"""Schemas of the `keyframes` group."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.schema.models import ModelSettings

GROUP = "keyframes"


@dataclass
class DraftKeyframesConfig:
    _target_: str = "stages.keyframes.draft.DraftKeyframes"
    font_size: int = 0


@dataclass
class ImageKeyframesConfig:
    _target_: str = "stages.keyframes.images.ImageKeyframes"


@dataclass
class ZitKeyframesConfig(ModelSettings):
    _target_: str = "stages.keyframes.zit.ZitKeyframes"
    model: str = "Tongyi-MAI/Z-Image-Turbo"
    steps: int = 8
    guidance_scale: float = 0.0
    # model: render at about resolution^2 pixels in the job's aspect, covering the job size,
    # then fit; job: render at the job size (rounded up to the model's grid).
    render_at: str = "model"
    resolution: int = 1024
    max_sequence_length: int = 512
    candidates: int = 1
    strength: float = 0.6
    # Sampler and sigma schedule (stages/keyframes/schedulers.py; README "Casts and prompts").
    scheduler: str = "euler"
    sigmas: str = "simple"


SCHEMAS = {"draft": DraftKeyframesConfig, "images": ImageKeyframesConfig, "zit": ZitKeyframesConfig}
