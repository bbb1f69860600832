"""Reading video with PyAV: probing, frames by index or by timestamp, forwards and backwards.

Frames travel through iterators, so memory stays flat however long the video is. Every reader
turns a file it cannot use into a `MediaError` naming the path, which the planner reports as
one line.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.container import InputContainer
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from orchestrator.media.container import Frame, MediaError, reading, video_stream

_SEEK_END = 1 << 62


@dataclass(frozen=True)
class VideoInfo:
    """What the planner and the assembler need to know about a video file."""

    frames: int
    fps: Fraction
    width: int
    height: int

    @property
    def duration(self) -> float:
        return float(self.frames / self.fps)


# --------------------------------------------------------------------------- reading helpers


def _frame_rate(stream: VideoStream, path: Path) -> Fraction:
    rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    if not rate:
        raise MediaError(f"{path}: video stream has no frame rate")
    return Fraction(rate)


def _frame_index(pts: int, stream: VideoStream, fps: Fraction) -> int:
    """Frame number from a timestamp; exact for the constant-rate files renga writes."""
    return round((pts - (stream.start_time or 0)) * stream.time_base * fps)


def _count_frames(container: InputContainer, stream: VideoStream, fps: Fraction) -> int:
    """Count from the last packet's timestamp: Matroska stores no frame count, and demuxing a
    10-minute lossless file just to count would read gigabytes. Falls back to counting packets."""
    try:
        container.seek(_SEEK_END, stream=stream)
        last = max(
            (p.pts for p in container.demux(stream) if p.size and p.pts is not None), default=None
        )
    except av.FFmpegError:
        last = None
    if last is not None:
        return _frame_index(last, stream, fps) + 1
    container.seek(0, stream=stream)
    return sum(1 for packet in container.demux(stream) if packet.size)


def _rgb_converter() -> Callable[[av.VideoFrame], Frame]:
    """Decoded frame -> RGB array through one swscale context per reader: `to_ndarray(format=)`
    builds a new context, with its own worker threads, for every frame (5x the wall time of
    the decode itself on small frames, same pixels)."""
    reformatter = VideoReformatter()
    return lambda frame: reformatter.reformat(frame, format="rgb24").to_ndarray()


def _decode_from(
    container: InputContainer, stream: VideoStream, path: Path, start: int, stop: int | None
) -> Iterator[Frame]:
    """Frames [start, stop) after seeking to the keyframe at or before `start`."""
    fps = _frame_rate(stream, path)
    # Aim between two frames so rounded container timestamps never land one frame early.
    target = (stream.start_time or 0) + math.floor(
        (start + Fraction(1, 2)) / fps / stream.time_base
    )
    container.seek(target, stream=stream)
    to_rgb = _rgb_converter()
    for frame in container.decode(stream):
        if frame.pts is None:
            raise MediaError(f"{path}: frame without timestamp, cannot seek")
        index = _frame_index(frame.pts, stream, fps)
        if stop is not None and index >= stop:
            return
        if index >= start:
            yield to_rgb(frame)


# --------------------------------------------------------------------------- video reading


def probe_video(path: Path) -> VideoInfo:
    """Frame count, rate and size; decodes the first frame to prove the file is usable."""
    with reading(path, "video") as container:
        stream = video_stream(container, path)
        fps = _frame_rate(stream, path)
        if next(container.decode(stream), None) is None:
            raise MediaError(f"{path}: video stream has no decodable frames")
        frames = stream.frames or _count_frames(container, stream, fps)
        return VideoInfo(frames, fps, stream.codec_context.width, stream.codec_context.height)


def read_frames(path: Path, start: int = 0, stop: int | None = None) -> Iterator[Frame]:
    """Decode frames [start, stop) as (H, W, 3) uint8 RGB, one at a time."""
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"bad frame range [{start}, {stop})")
    with reading(path, "video") as container:
        stream = video_stream(container, path)
        if start > 0:
            yield from _decode_from(container, stream, path, start, stop)
            return
        to_rgb = _rgb_converter()
        for frame in itertools.islice(container.decode(stream), stop):
            yield to_rgb(frame)


def read_frames_reversed(path: Path, chunk: int = 16) -> Iterator[Frame]:
    """Last frame first, decoding `chunk` frames per backward seek so memory stays bounded."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    total = probe_video(path).frames
    with reading(path, "video") as container:
        stream = video_stream(container, path)
        end = total
        while end > 0:
            begin = max(0, end - chunk)
            block = list(_decode_from(container, stream, path, begin, end))
            if len(block) != end - begin:
                raise MediaError(f"{path}: frames {begin}..{end - 1} decoded as {len(block)}")
            yield from reversed(block)
            end = begin


def read_frame(path: Path, index: int) -> Frame:
    """One frame; a negative index counts from the end (-1 is the last, used for chaining)."""
    if index < 0:
        index += probe_video(path).frames
    if index < 0:
        raise IndexError(f"{path}: frame index out of range")
    with closing(read_frames(path, index, index + 1)) as frames:
        frame = next(frames, None)
    if frame is None:
        raise IndexError(f"{path}: frame {index} out of range")
    return frame


def read_frames_at(path: Path, times: list[Fraction]) -> Iterator[Frame]:
    """For increasing `times` (seconds from the stream's start), the frame on screen at each
    (pts <= t < next pts; the first frame before it, the last after the end): a clip at
    another rate resampled by its timestamps, so variable-rate phone video lands right too."""
    if any(b < a for a, b in itertools.pairwise(times)) or (times and times[0] < 0):
        raise ValueError("times must be increasing and not negative")
    with reading(path, "video") as container:
        stream = video_stream(container, path)
        origin = stream.start_time or 0
        if times and times[0] > 0:
            container.seek(origin + math.floor(times[0] / stream.time_base), stream=stream)
        to_rgb = _rgb_converter()
        shown: Frame | None = None
        k = 0
        for frame in container.decode(stream):
            if frame.pts is None:
                raise MediaError(f"{path}: frame without timestamp")
            at = (frame.pts - origin) * stream.time_base
            while k < len(times) and times[k] < at and shown is not None:
                yield shown
                k += 1
            if k == len(times):
                return
            shown = to_rgb(frame)
        if shown is None:
            raise MediaError(f"{path}: video stream has no decodable frames")
        for _ in range(k, len(times)):
            yield shown


# --------------------------------------------------------------------------- audio reading


# --------------------------------------------------------------------------- video writing


# --------------------------------------------------------------------------- images
