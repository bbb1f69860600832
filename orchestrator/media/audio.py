"""Audio I/O: one decoding source for every read (PyAV, then libsndfile when FFmpeg refuses the
file), resampled through the same swresample path, windowed and streamed in bounded blocks;
probing and writing WAV/FLAC."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer

from orchestrator.media import sndfile
from orchestrator.media.container import MediaError, audio_stream, reading

_LAYOUTS = {1: "mono", 2: "stereo"}
_AUDIO_WRITERS = {".wav": "pcm_s16le", ".flac": "flac"}
_AUDIO_BLOCK = 4096


@dataclass(frozen=True)
class AudioInfo:
    """Enough to validate a soundtrack at plan time without decoding all of it."""

    duration: float
    rate: int
    channels: int


def _match_channels(block: np.ndarray, channels: int) -> np.ndarray:
    """Mono is copied to every channel and stereo averaged to mono at unity gain; swresample's
    matrix would apply -3 dB to both, changing the loudness of mono music."""
    have = block.shape[0]
    if have == channels:
        return block
    if have == 1:
        return np.repeat(block, channels, axis=0)
    return block.mean(axis=0, keepdims=True, dtype=np.float32)


def _converted(
    resampler: av.AudioResampler, frame: av.AudioFrame | None, channels: int
) -> Iterator[np.ndarray]:
    for out in resampler.resample(frame):
        yield _match_channels(out.to_ndarray(), channels)


def _resample(frames: Iterable[av.AudioFrame], rate: int, channels: int) -> Iterator[np.ndarray]:
    """Float32 (channels, n) blocks at `rate`; a new resampler if the input format changes."""
    resampler: av.AudioResampler | None = None
    source: tuple[str, str, int] | None = None
    for frame in frames:
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        if key != source:
            if resampler is not None:
                yield from _converted(resampler, None, channels)
            layout = None if len(frame.layout.channels) <= 2 else _LAYOUTS[channels]
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            source = key
        yield from _converted(resampler, frame, channels)
    if resampler is not None:
        yield from _converted(resampler, None, channels)


def _tail(frame: av.AudioFrame, skip: int) -> av.AudioFrame:
    """The frame without its first `skip` samples."""
    data = frame.to_ndarray()
    step = 1 if frame.format.is_planar else len(frame.layout.channels)
    tail = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(data[:, skip * step :]),
        format=frame.format.name,
        layout=frame.layout.name,
    )
    tail.sample_rate = frame.sample_rate
    tail.time_base = frame.time_base
    if frame.pts is not None:
        tail.pts = frame.pts + round(Fraction(skip, frame.sample_rate) / frame.time_base)
    return tail


def _skip_input(frames: Iterable[av.AudioFrame], count: int) -> Iterator[av.AudioFrame]:
    """Drop samples before resampling, so a window's length does not depend on where the
    seek landed."""
    for frame in frames:
        if count >= frame.samples:
            count -= frame.samples
            continue
        yield _tail(frame, count) if count else frame
        count = 0


def _audio_blocks(
    container: InputContainer, stream: AudioStream, rate: int, channels: int, start: float
) -> Iterator[np.ndarray]:
    """Resampled blocks beginning `start` seconds into the stream (to one input sample)."""
    frames = container.decode(stream)
    if start <= 0:
        yield from _resample(frames, rate, channels)
        return
    origin = stream.start_time or 0
    container.seek(origin + math.floor(Fraction(start) / stream.time_base), stream=stream)
    first = next(frames, None)
    if first is None:
        return
    first_time = (first.pts - origin) * first.time_base if first.pts is not None else Fraction(0)
    lead = round((Fraction(start) - first_time) * first.sample_rate)
    if lead < 0:
        yield np.zeros((channels, round(-lead * rate / first.sample_rate)), np.float32)
    yield from _resample(
        _skip_input(itertools.chain([first], frames), max(lead, 0)), rate, channels
    )


def _pyav_audio(path: Path, rate: int, channels: int, start: float) -> Iterator[np.ndarray]:
    with reading(path, "audio") as container:
        yield from _audio_blocks(container, audio_stream(container, path), rate, channels, start)


def audio_source(path: Path, rate: int, channels: int, start: float) -> Iterator[np.ndarray]:
    """Resampled blocks from PyAV, or from libsndfile when FFmpeg cannot open the file or
    decode its first packets. Both feed the same resampler, so what follows cannot tell which
    decoded. A file that fails later, after blocks went out, fails: it cannot be spliced."""
    pyav = _pyav_audio(path, rate, channels, start)
    try:
        first = next(pyav, None)
    except MediaError as refused:
        if not Path(path).is_file():
            raise
        with _fallback_errors(path, refused):
            yield from _resample(sndfile.frames(path, start), rate, channels)
        return
    if first is None:
        return
    with closing(pyav):
        yield first
        yield from pyav


def _reason(error: MediaError, path: Path) -> str:
    """What a decoder said, without the path the message already starts with."""
    cause = error.__cause__
    if cause is not None:
        return getattr(cause, "strerror", None) or str(cause)
    return str(error).removeprefix(f"{path}: ")


@contextmanager
def _fallback_errors(path: Path, refused: MediaError) -> Iterator[None]:
    """libsndfile failing too is one error naming both decoders' reasons."""
    try:
        yield
    except sndfile.ERRORS as exc:
        raise MediaError(
            f"{path}: cannot read as audio: FFmpeg: {_reason(refused, path)}; libsndfile: {exc}"
        ) from exc


def _check_channels(channels: int) -> str:
    if channels not in _LAYOUTS:
        raise ValueError(f"channels must be 1 or 2, got {channels}")
    return _LAYOUTS[channels]


def read_audio(
    path: Path, *, rate: int, channels: int, start: float = 0.0, duration: float | None = None
) -> np.ndarray:
    """Float32 (channels, samples) at `rate`, decoding only the window [start, start+duration);
    shorter than asked when the file ends first."""
    _check_channels(channels)
    if start < 0 or (duration is not None and duration < 0):
        raise ValueError(f"bad audio window start={start} duration={duration}")
    limit = None if duration is None else round(duration * rate)
    blocks: list[np.ndarray] = []
    have = 0
    with closing(audio_source(path, rate, channels, start)) as source:
        for block in source:
            if limit is not None and have >= limit:
                break
            blocks.append(block)
            have += block.shape[1]
    if not blocks:
        return np.zeros((channels, 0), np.float32)
    # NaN/inf from a float file would silence the whole mix (plan time warned about them).
    samples = np.concatenate(blocks, axis=1)[:, :limit]
    return np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0, copy=False)


def probe_audio(path: Path) -> AudioInfo:
    """Validate a soundtrack cheaply: it opens, its first packets decode and it is not empty.
    Through libsndfile when FFmpeg refuses the file, as `read_audio` will read it."""
    try:
        return _probe_pyav(path)
    except MediaError as refused:
        if not Path(path).is_file():
            raise
        with _fallback_errors(path, refused):
            info = sndfile.probe(path)
        if info.duration <= 0:
            raise MediaError(f"{path}: audio stream is empty") from None
        return AudioInfo(info.duration, info.rate, info.channels)


def _probe_pyav(path: Path) -> AudioInfo:
    with reading(path, "audio") as container:
        stream = audio_stream(container, path)
        first = next((f for f in container.decode(stream) if f.samples), None)
        if first is None:
            raise MediaError(f"{path}: audio stream is empty")
        if stream.duration:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = (
                first.samples + sum(f.samples for f in container.decode(stream))
            ) / first.sample_rate
        if duration <= 0:
            raise MediaError(f"{path}: audio stream is empty")
        return AudioInfo(duration, first.sample_rate, len(first.layout.channels))


def write_audio(path: Path, samples: np.ndarray | Iterable[np.ndarray], rate: int) -> None:
    """(channels, n) float32 in [-1, 1] -- one array, or blocks of them so a long track never
    has to be in memory -- to 16-bit WAV or FLAC, chosen by suffix."""
    codec = _AUDIO_WRITERS.get(Path(path).suffix.lower())
    if codec is None:
        raise ValueError(f"{path}: audio suffix must be one of {sorted(_AUDIO_WRITERS)}")
    blocks = iter([samples] if isinstance(samples, np.ndarray) else samples)
    first = next(blocks, None)
    if first is None or first.ndim != 2 or first.shape[1] == 0:
        shape = None if first is None else first.shape
        raise ValueError(f"samples must be (channels, n) with n > 0, got {shape}")
    layout = _check_channels(first.shape[0])
    written = 0
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        for block in itertools.chain([first], blocks):
            pcm = np.round(np.clip(block, -1.0, 1.0) * 32767.0).astype(np.int16)
            for pos in range(0, pcm.shape[1], _AUDIO_BLOCK):
                chunk = np.ascontiguousarray(pcm[:, pos : pos + _AUDIO_BLOCK].T).reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout=layout)
                frame.sample_rate = rate
                frame.pts = written
                frame.time_base = Fraction(1, rate)
                container.mux(stream.encode(frame))
                written += chunk.shape[1] // first.shape[0]
        container.mux(stream.encode(None))
