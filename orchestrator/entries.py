"""The run's vocabulary: node ids and the file each node writes in its store entry."""

from __future__ import annotations

from orchestrator.plan.timeline import ShotPlan

FOOTAGE_FILE = "footage.mkv"


KEYFRAME_FILE = "keyframe.png"
CLIP_FILE = "clip.mkv"
VIDEO_FILE = "video.mkv"
AUDIO_FILE = "audio.wav"
EFFECTS_FILE = "effects.wav"
CONTACT_SHEET_FILE = "contact_sheet.png"


def keyframe_id(shot: int) -> str:
    return f"keyframe/{shot}"


def candidate_id(shot: ShotPlan, candidate: int) -> str:
    """The picked candidate is the shot's keyframe; the others only reach the contact sheet."""
    if candidate == shot.pick:
        return keyframe_id(shot.index)
    return f"{keyframe_id(shot.index)}/candidate{candidate}"
