"""A user's soundtrack, cut to the job's length and levelled, as the job's audio."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.media.audio import read_audio, write_audio
from orchestrator.plan.timeline import Timeline

PEAK_CEILING = 10 ** (-1 / 20)


def prepare_soundtrack(
    path: Path,
    *,
    duration: float,
    rate: int = 48000,
    channels: int = 2,
    start: float = 0.0,
    lufs: float | None = -14.0,
    fade_in: float = 0.02,
    fade_out: float = 0.5,
    pad: bool = True,
) -> np.ndarray:
    """Float32 (channels, round(duration * rate)) of the track from `start`.

    Short fades hide the cut edges (the fade-out ends where the music ends, before any silence
    padding), loudness is normalised to `lufs` so tracks play at a consistent level, and the
    peak is kept at or below -1 dBFS so AAC encoding does not clip. With `pad=False` the
    silence after a track shorter than `duration` is left for the caller to add."""
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    total = round(duration * rate)
    music = read_audio(path, rate=rate, channels=channels, start=start, duration=duration)
    music = music[:, :total]
    _fade(music, round(fade_in * rate), round(fade_out * rate))
    samples = np.zeros((channels, total if pad else music.shape[1]), np.float32)
    samples[:, : music.shape[1]] = music
    if lufs is not None:
        samples = normalise_loudness(samples, rate, lufs)
    return limit_peak(samples, PEAK_CEILING)


def _fade(music: np.ndarray, fade_in: int, fade_out: int) -> None:
    """Linear ramps in place, starting from and ending at silence."""
    length = music.shape[1]
    fade_in, fade_out = min(fade_in, length), min(fade_out, length)
    if fade_in > 0:
        music[:, :fade_in] *= np.arange(fade_in, dtype=np.float32) / fade_in
    if fade_out > 0:
        music[:, length - fade_out :] *= (
            np.arange(fade_out - 1, -1, -1, dtype=np.float32) / fade_out
        )


def normalise_loudness(samples: np.ndarray, rate: int, target: float) -> np.ndarray:
    """Gain to integrated loudness `target` (BS.1770); silence and clips shorter than one
    gating block have no defined loudness and pass through unchanged."""
    # Imported here: pyloudnorm brings scipy.signal (0.3-1 s), which planning never needs.
    import pyloudnorm

    meter = pyloudnorm.Meter(rate)
    if samples.shape[1] < meter.block_size * rate:
        return samples
    loudness = meter.integrated_loudness(samples.T)
    if not math.isfinite(loudness):
        return samples
    return samples * np.float32(10 ** ((target - loudness) / 20))


def limit_peak(samples: np.ndarray, ceiling: float) -> np.ndarray:
    """Scale down to the ceiling, aiming a hair under it so float32 rounding cannot overshoot."""
    peak = float(np.max(np.abs(samples), initial=0.0))
    if peak <= ceiling:
        return samples
    return samples * np.float32(ceiling * (1 - 1e-6) / peak)


class SoundtrackAudio:
    """`audio=track`: the job's soundtrack, or silence for a job without one."""

    version = "1"
    model_group = None
    keeps_footage_audio = True

    def __init__(
        self,
        rate: int = 48000,
        channels: int = 2,
        lufs: float | None = -14.0,
        fade_in: float = 0.02,
        fade_out: float = 0.5,
        duck_db: float = 12.0,
    ) -> None:
        self.duck_db = duck_db
        self.rate = rate
        self.channels = channels
        self.lufs = lufs
        self.fade_in = fade_in
        self.fade_out = fade_out

    def validate(self, timeline: Timeline) -> None:
        if self.channels not in (1, 2):
            raise UserError("audio.channels", f"must be 1 or 2, got {self.channels}")
        if self.rate < 8000:
            raise UserError("audio.rate", f"must be at least 8000 Hz, got {self.rate}")

    def music(self, timeline: Timeline, pad: bool = True) -> np.ndarray:
        """The levelled soundtrack at `rate` (empty without one); `pad=False` leaves the
        silence after a short track out."""
        if timeline.soundtrack is None:
            total = round(timeline.duration * self.rate) if pad else 0
            return np.zeros((self.channels, total), np.float32)
        return prepare_soundtrack(
            timeline.soundtrack,
            duration=timeline.duration,
            rate=self.rate,
            channels=self.channels,
            start=timeline.soundtrack_start,
            lufs=self.lufs,
            fade_in=self.fade_in,
            fade_out=self.fade_out,
            pad=pad,
        )

    def render(self, timeline: Timeline, out: Path, ctx: NodeContext) -> None:
        total = round(timeline.duration * self.rate)
        music = self.music(timeline, pad=False)
        kept = footage_track(timeline, self.rate, self.channels, total)
        if kept is not None:
            kept[:, : music.shape[1]] += music
            music = limit_peak(kept, PEAK_CEILING)
        speech = speech_track(timeline, self.rate, self.channels, total)
        if speech is not None:
            track = np.zeros((self.channels, total), np.float32)
            track[:, : music.shape[1]] = music
            mixed = duck(track, speech, self.rate, self.duck_db) + speech
            write_audio(out, limit_peak(mixed, 1.0), self.rate)
            return
        write_audio(out, _padded(music, total, self.rate), self.rate)


def speech_track(timeline: Timeline, rate: int, channels: int, length: int) -> np.ndarray | None:
    """The job's speech on the video's timeline: each shot's at its start, or the vocals."""
    if timeline.vocals is not None:
        vocals = read_audio(
            timeline.vocals, rate=rate, channels=channels, duration=timeline.duration
        )
        track = np.zeros((channels, length), np.float32)
        track[:, : vocals.shape[1]] = vocals[:, :length]
        return track
    placed = [s for s in timeline.shots if s.speech is not None]
    if not placed:
        return None
    track = np.zeros((channels, length), np.float32)
    for shot in placed:
        assert shot.speech is not None
        begin = round(shot.start / timeline.fps * rate)
        end = min(length, round((shot.start + shot.frames) / timeline.fps * rate))
        clip = read_audio(shot.speech, rate=rate, channels=channels)
        take = min(clip.shape[1], end - begin)
        track[:, begin : begin + take] += clip[:, :take]
    return track


def footage_track(timeline: Timeline, rate: int, channels: int, length: int) -> np.ndarray | None:
    """The audio of included clips that keep it (`keep_audio`), each where its clip plays, at
    its own level: it goes under the soundtrack, not into the loudness normalisation."""
    kept = [s for s in timeline.shots if s.footage is not None and s.footage.keep_audio]
    if not kept:
        return None
    track = np.zeros((channels, length), np.float32)
    for shot in kept:
        assert shot.footage is not None
        begin = round(shot.start / timeline.fps * rate)
        seconds = float(shot.lead / timeline.fps)
        clip = read_audio(
            shot.footage.path,
            rate=rate,
            channels=channels,
            start=float(shot.footage.start),
            duration=seconds,
        )
        take = min(clip.shape[1], length - begin)
        track[:, begin : begin + take] += clip[:, :take]
    return track


def duck(music: np.ndarray, speech: np.ndarray, rate: int, depth_db: float) -> np.ndarray:
    """Music lowered by `depth_db` wherever speech is heard, easing in and out over ~150 ms so
    the ducking is not heard as a pump."""
    level = np.max(np.abs(speech), axis=0)
    window = max(1, round(0.3 * rate))
    active = np.convolve((level > 10 ** (-45 / 20)).astype(np.float32), np.ones(window), "same")
    active = np.minimum(active, 1.0)
    smooth = max(1, round(0.15 * rate))
    active = np.convolve(active, np.ones(smooth, np.float32) / smooth, "same")
    gain = 1.0 - (1.0 - 10 ** (-depth_db / 20)) * active
    return music * gain.astype(np.float32)


def _padded(music: np.ndarray, total: int, rate: int) -> Iterator[np.ndarray]:
    """The music, then silence in one-second blocks up to `total` samples: a short song under a
    long video costs the song's memory, not the video's."""
    if music.shape[1]:
        yield music
    written = music.shape[1]
    while written < total:
        block = min(rate, total - written)
        yield np.zeros((music.shape[0], block), np.float32)
        written += block
