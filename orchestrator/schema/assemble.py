"""Schemas of the stages every video run has: assemble and (for stills) the contact sheet."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.schema.bounds import bounded


@dataclass
class AssembleConfig:
    _target_: str = "stages.assemble.Assembler"
    overlap_frames: int = bounded(0, 0, 1024)
    crossfade: str = "cosine"
    color_match: str = "auto"
    color_strength: float = bounded(0.75, 0, 1)
    color_reference: str = "shot_keyframe"


@dataclass
class ContactSheetConfig:
    _target_: str = "stages.contact_sheet.ContactSheet"
    columns: int = bounded(4, 1, 64)
    thumb_width: int = bounded(416, 16, 4096)
