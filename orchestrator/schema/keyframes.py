"""Schemas of the `keyframes` group."""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "keyframes"


@dataclass
class DraftKeyframesConfig:
    _target_: str = "stages.keyframes.draft.DraftKeyframes"
    font_size: int = 0


@dataclass
class ImageKeyframesConfig:
    _target_: str = "stages.keyframes.images.ImageKeyframes"


SCHEMAS = {"draft": DraftKeyframesConfig, "images": ImageKeyframesConfig}
