"""Synthesised test songs with a known beat grid: kick, snare on 2 and 4, swung hats and a bass
line whose root changes every bar, so tempo, beats and downbeats can be checked exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from orchestrator.media.audio import write_audio

RATE = 22050
ROOTS = (55.0, 73.4, 65.4, 49.0)


def synth_track(
    bpm: float,
    seconds: float,
    *,
    offset: float = 0.37,
    swing: float = 0.6,
    seed: int = 0,
    beats_per_bar: int = 4,
    bpm_end: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mono float32 samples and the true beat times; beat 0 (at `offset`) is a downbeat. With
    `bpm_end` the tempo moves linearly from `bpm` to it over the song."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * RATE), np.float32)
    t = np.arange(int(0.4 * RATE)) / RATE
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
    snare = rng.standard_normal(len(t)) * np.exp(-t * 25) * 0.5
    hat_t = np.arange(int(0.05 * RATE)) / RATE
    hat = rng.standard_normal(len(hat_t)) * np.exp(-hat_t * 80) * 0.15

    def add(sound: np.ndarray, at: float) -> None:
        i = int(round(at * RATE))
        if 0 <= i < len(y):
            n = min(len(sound), len(y) - i)
            y[i : i + n] += sound[:n]

    times = [offset]
    while True:
        local = bpm + ((bpm_end or bpm) - bpm) * times[-1] / seconds
        if times[-1] + 60.0 / local >= seconds:
            break
        times.append(times[-1] + 60.0 / local)
    for b, at in enumerate(times):
        beat = times[b + 1] - at if b + 1 < len(times) else times[-1] - times[-2]
        position = b % beats_per_bar
        add(kick if position % 2 == 0 else snare, at)
        root = ROOTS[(b // beats_per_bar) % len(ROOTS)]
        for k, frac in enumerate((0.0, swing)):
            add(hat * (1.0 if k == 0 else 0.6), at + frac * beat)
            length = beat * (swing if k == 0 else 1 - swing)
            nt = np.arange(int(length * RATE)) / RATE
            note = 0.3 * np.sin(2 * np.pi * root * (2 if k else 1) * nt) * np.exp(-nt * 4)
            add(note, at + frac * beat)
    return (y / np.abs(y).max() * 0.8).astype(np.float32), np.array(times)


def write_track(path: Path, bpm: float, seconds: float, **kwargs: float) -> np.ndarray:
    """Write a stereo WAV (or any format PyAV encodes, by suffix) and return its beat times."""
    y, times = synth_track(bpm, seconds, **kwargs)
    write_audio(path, np.stack([y, y]), RATE)
    return times
