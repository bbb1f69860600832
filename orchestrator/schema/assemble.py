"""Schemas of the stages every video run has: assemble and (for stills) the contact sheet."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AssembleConfig:
    _target_: str = "stages.assemble.Assembler"
    overlap_frames: int = 0
    crossfade: str = "cosine"
    color_match: str = "none"
    color_strength: float = 1.0
    color_reference: str = "shot_keyframe"


@dataclass
class ContactSheetConfig:
    _target_: str = "stages.contact_sheet.ContactSheet"
    columns: int = 4
    thumb_width: int = 416
