"""libsndfile (through `soundfile`) as the second audio decoder, for files FFmpeg refuses.

Some files every player plays are refused by FFmpeg: Ogg Vorbis whose identification header is
longer than the 30 bytes FFmpeg's Ogg demuxer insists on (libvorbis reads the fields it needs
and ignores the rest), for one. libsndfile decodes them with libvorbis itself. The reader hands
out PyAV audio frames, so resampling, channel matching, windowing and streaming after it are the
very code that follows PyAV's decoder (`orchestrator.media.video`), and both paths give the same
samples. soundfile is imported on first use: most runs never need it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

BLOCK = 16384
# FFmpeg's default layout for each channel count, so swresample downmixes >2 channels as it
# does for files PyAV decodes.
LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
# What soundfile raises for a file it cannot use (LibsndfileError is a RuntimeError).
ERRORS = (RuntimeError, OSError, ValueError, TypeError)


@dataclass(frozen=True)
class Info:
    duration: float
    rate: int
    channels: int


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """libsndfile's MP3 decoder (libmpg123) prints warnings about odd ID3 tags straight to file
    descriptor 2, which would break renga's one-line errors. Held only while a file opens."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _open(path: Path) -> Any:
    import soundfile

    with _quiet_stderr():
        return soundfile.SoundFile(str(path))


def _layout(channels: int) -> str:
    if channels not in LAYOUTS:
        raise ValueError(f"{channels} channels: no channel layout to downmix from")
    return LAYOUTS[channels]


def frames(path: Path, start: float = 0.0) -> Iterator[av.AudioFrame]:
    """Float32 frames from `start` seconds on (to the exact sample), timestamped in samples,
    ready for the resampler PyAV's frames go through.

    The samples before `start` are decoded and dropped, not sought past: libsndfile 1.2.2 lands
    Ogg Vorbis seeks up to a thousand samples off (measured: seek(1000) read from 0, seek(174000)
    from 128 early), and decoding is cheap next to everything done with a song."""
    with _open(path) as source:
        layout = _layout(source.channels)
        rate = source.samplerate
        skip = round(start * rate)
        position = 0
        while True:
            block = source.read(BLOCK, dtype="float32", always_2d=True)
            if not len(block):
                return
            if skip >= position + len(block):
                position += len(block)
                continue
            if skip > position:
                block = block[skip - position :]
                position = skip
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(block.T), format="fltp", layout=layout
            )
            frame.sample_rate = rate
            frame.time_base = Fraction(1, rate)
            frame.pts = position
            position += len(block)
            yield frame


def stores_floats(path: Path) -> bool:
    """Whether the file holds float samples (which can be NaN or infinite)."""
    with _open(path) as source:
        return source.subtype in ("FLOAT", "DOUBLE")


def probe(path: Path) -> Info:
    """Duration, rate and channels; decodes the first block to prove the file is usable."""
    with _open(path) as source:
        _layout(source.channels)
        first = len(source.read(BLOCK, dtype="float32", always_2d=True))
        total = source.frames
        if total <= 0:  # a stream without a length: count it
            total = first
            while chunk := len(source.read(BLOCK, dtype="float32", always_2d=True)):
                total += chunk
        if first == 0:
            total = 0
        return Info(total / source.samplerate, source.samplerate, source.channels)
