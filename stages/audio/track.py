"""A user's soundtrack, cut to the job's length and levelled, as the job's audio."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyloudnorm

from orchestrator import media
from orchestrator.errors import UserError
from orchestrator.plan import Timeline
from orchestrator.stage import NodeContext

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
) -> np.ndarray:
    """Float32 (channels, round(duration * rate)) of the track from `start`.

    Short fades hide the cut edges (the fade-out ends where the music ends, before any silence
    padding), loudness is normalised to `lufs` so tracks play at a consistent level, and the
    peak is kept at or below -1 dBFS so AAC encoding does not clip."""
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    total = round(duration * rate)
    music = media.read_audio(path, rate=rate, channels=channels, start=start, duration=duration)
    music = music[:, :total]
    _fade(music, round(fade_in * rate), round(fade_out * rate))
    samples = np.zeros((channels, total), np.float32)
    samples[:, : music.shape[1]] = music
    if lufs is not None:
        samples = _normalise_loudness(samples, rate, lufs)
    return _limit_peak(samples, PEAK_CEILING)


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


def _normalise_loudness(samples: np.ndarray, rate: int, target: float) -> np.ndarray:
    """Gain to integrated loudness `target` (BS.1770); silence and clips shorter than one
    gating block have no defined loudness and pass through unchanged."""
    meter = pyloudnorm.Meter(rate)
    if samples.shape[1] < meter.block_size * rate:
        return samples
    loudness = meter.integrated_loudness(samples.T)
    if not math.isfinite(loudness):
        return samples
    return samples * np.float32(10 ** ((target - loudness) / 20))


def _limit_peak(samples: np.ndarray, ceiling: float) -> np.ndarray:
    """Scale down to the ceiling, aiming a hair under it so float32 rounding cannot overshoot."""
    peak = float(np.max(np.abs(samples), initial=0.0))
    if peak <= ceiling:
        return samples
    return samples * np.float32(ceiling * (1 - 1e-6) / peak)


class SoundtrackAudio:
    """`audio=track`: the job's soundtrack, or silence for a job without one."""

    version = "1"
    model_group = None

    def __init__(
        self,
        rate: int = 48000,
        channels: int = 2,
        lufs: float | None = -14.0,
        fade_in: float = 0.02,
        fade_out: float = 0.5,
    ) -> None:
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

    def render(self, timeline: Timeline, out: Path, ctx: NodeContext) -> None:
        if timeline.soundtrack is None:
            samples = np.zeros((self.channels, round(timeline.duration * self.rate)), np.float32)
        else:
            samples = prepare_soundtrack(
                timeline.soundtrack,
                duration=timeline.duration,
                rate=self.rate,
                channels=self.channels,
                start=timeline.soundtrack_start,
                lufs=self.lufs,
                fade_in=self.fade_in,
                fade_out=self.fade_out,
            )
        media.write_audio(out, samples, self.rate)
