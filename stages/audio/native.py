"""`audio=native`: the clips' own sound (a video model that makes it: `video=ltx2`), stitched.

Each clip's sound is laid where its frames play (`Timeline.clip_starts`) and held to the frames
that reach the output. Where a clip's head shares frames with the tail before it, the two
sounds cross over those frames with equal-power gains (the clips are separate generations, so
their sounds do not correlate); at a cut the crossover lasts `seam_fade` s, so no seam clicks.
The stitched sound is levelled to `lufs`; with a soundtrack it sits `native_db` under it and is
ducked where the music plays, and speech ducks both, as `audio=mix` treats MMAudio's effects.
A clip driven by a shot's speech sounds like that speech vocoded: the mix carries the original
speech there instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.media.audio import read_audio, write_audio
from orchestrator.plan.timeline import Timeline
from stages.audio.track import (
    SoundtrackAudio,
    duck,
    limit_peak,
    normalise_loudness,
    speech_track,
)


class NativeAudio:
    version = "1"
    model_group = None
    # The audio node reads every segment's sound file (orchestrator/render/audio.py).
    from_clips = True

    def __init__(
        self,
        rate: int = 48000,
        channels: int = 2,
        lufs: float | None = -14.0,
        fade_in: float = 0.02,
        fade_out: float = 0.5,
        seam_fade: float = 0.05,
        native_db: float = -6.0,
        native_duck_db: float = 9.0,
        duck_db: float = 12.0,
    ) -> None:
        self.soundtrack = SoundtrackAudio(rate, channels, lufs, fade_in, fade_out, duck_db)
        self.rate = rate
        self.channels = channels
        self.lufs = lufs
        self.fade_in = fade_in
        self.fade_out = fade_out
        self.seam_fade = seam_fade
        self.native_db = native_db
        self.native_duck_db = native_duck_db
        self.duck_db = duck_db

    def validate(self, timeline: Timeline) -> None:
        self.soundtrack.validate(timeline)
        if timeline.loop == "pingpong":
            raise UserError(
                "job.loop", "pingpong would play the clips' sound backwards; use none or closure"
            )

    def stitched(self, timeline: Timeline, sounds: list[Path]) -> np.ndarray:
        """(channels, duration * rate): every clip's sound where its frames play."""
        rate, fps = self.rate, timeline.fps
        total = round(timeline.duration * rate)
        track = np.zeros((self.channels, total), np.float32)
        starts = timeline.clip_starts()
        at = [round(start / fps * rate) for start in starts]
        ends = [
            round((s + seg.keep) / fps * rate)
            for s, seg in zip(starts, timeline.segments, strict=True)
        ]
        fade = max(1, round(self.seam_fade * rate))
        for k, (segment, path) in enumerate(zip(timeline.segments, sounds, strict=True)):
            if timeline.shots[segment.shot].speech is not None:
                continue
            begin = at[k]
            cross_in = _crossing(at, ends, k, fade)
            cross_out = _crossing(at, ends, k + 1, fade) if k + 1 < len(at) else 0
            end = min(total, (at[k + 1] + cross_out) if cross_out else ends[k])
            sound = read_audio(path, rate=rate, channels=self.channels)
            skip = max(0, -begin)
            piece = sound[:, skip : skip + max(0, end - begin - skip)].copy()
            if cross_in:
                _ramp(piece, 0, cross_in - skip, rising=True)
            if cross_out:
                _ramp(piece, at[k + 1] - begin - skip, cross_out, rising=False)
            start = begin + skip
            track[:, start : start + piece.shape[1]] += piece
        return track

    def render_clips(
        self, timeline: Timeline, sounds: list[Path], out: Path, ctx: NodeContext
    ) -> None:
        native = self.stitched(timeline, sounds)
        rate, total = self.rate, native.shape[1]
        music = self.soundtrack.music(timeline) if timeline.soundtrack is not None else None
        if self.lufs is not None:
            level = self.lufs + (self.native_db if music is not None else 0.0)
            native = normalise_loudness(native, rate, level)
        elif music is not None:
            native *= np.float32(10 ** (self.native_db / 20))
        mixed = native if music is None else music + duck(native, music, rate, self.native_duck_db)
        speech = speech_track(timeline, rate, self.channels, total)
        if speech is not None:
            mixed = duck(mixed, speech, rate, self.duck_db) + speech
        ctx.metrics["clips_with_sound"] = sum(
            timeline.shots[s.shot].speech is None for s in timeline.segments
        )
        write_audio(out, limit_peak(mixed, 1.0), rate)


def _crossing(at: list[int], ends: list[int], k: int, fade: int) -> int:
    """Samples over which clip k takes over from clip k - 1: the frames they share, or
    `fade` at a cut (0 for the first clip)."""
    if k == 0:
        return 0
    return max(ends[k - 1] - at[k], fade)


def _ramp(piece: np.ndarray, start: int, length: int, *, rising: bool) -> None:
    """Equal-power gain (sin rising, cos falling) over [start, start + length) in place, and
    silence after a falling ramp."""
    if length <= 0:
        return
    angle = (np.arange(length, dtype=np.float64) + 0.5) / length * (np.pi / 2)
    gain = (np.sin(angle) if rising else np.cos(angle)).astype(np.float32)
    lo, hi = max(start, 0), min(start + length, piece.shape[1])
    if lo < hi:
        piece[:, lo:hi] *= gain[lo - start : hi - start]
    if not rising:
        piece[:, max(hi, 0) :] = 0.0
