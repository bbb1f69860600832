"""Schemas of the stages every video run has: assemble and (for stills) the contact sheet."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AssembleConfig:
    _target_: str = "stages.assemble.Assembler"
    overlap_frames: int = 0
    crossfade: str = "cosine"


@dataclass
class ContactSheetConfig:
    _target_: str = "stages.contact_sheet.ContactSheet"
    columns: int = 4
    thumb_width: int = 416
