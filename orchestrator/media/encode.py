"""Encoding video with PyAV: the codecs (lossless RGB H.264 between stages, H.264 and ProRes for
the final file) and `write_video`, which streams frames and muxes an audio track without holding
either in memory."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.container import OutputContainer
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from orchestrator.media.audio import audio_source
from orchestrator.media.container import Frame
from orchestrator.media.encoding import BITEXACT, encoder_options

_MOV_SUFFIXES = frozenset({".mp4", ".m4v", ".mov"})
# Tags both the mp4 and the mov muxer store natively; any other key needs QuickTime mdta tags.
_MOV_NATIVE_TAGS = frozenset({"title", "album", "comment", "copyright", "date", "genre"})


@dataclass(frozen=True)
class VideoCodec:
    """How `write_video` encodes: codec, pixel format, options, colour tags and the audio track."""

    name: str
    pix_fmt: str
    options: dict[str, str] = field(default_factory=dict)
    container_options: dict[str, str] = field(default_factory=dict)
    bt709: bool = False
    audio_codec: str = "aac"
    audio_rate: int = 48000
    audio_bitrate: int = 192_000


# Intermediates are lossless RGB H.264 (libx264rgb at qp 0): bit-exact like FFV1, but measured
# here 4-5x faster to encode, ~2.5x faster to decode and half the size at 720p. A keyframe every
# 16 frames keeps backward seeks (reverse reading, chaining from a late frame) cheap.
LOSSLESS = VideoCodec(
    name="libx264rgb",
    pix_fmt="rgb24",
    options={"qp": "0", "preset": "ultrafast", "g": "16"},
    audio_codec="pcm_s16le",
)


def h264(crf: int = 18, preset: str = "veryfast") -> VideoCodec:
    """Delivery: H.264 4:2:0, BT.709 tags, AAC, and moov first so players start at once."""
    return VideoCodec(
        name="libx264",
        pix_fmt="yuv420p",
        options={"crf": str(crf), "preset": preset},
        container_options={"movflags": "+faststart"},
        bt709=True,
        audio_codec="aac",
    )


def prores(profile: int = 3) -> VideoCodec:
    """An editing master: ProRes 422 (0 proxy .. 3 HQ) with PCM audio, for .mov."""
    if profile not in range(4):
        raise ValueError(f"prores profile must be 0..3 (4:2:2), got {profile}")
    return VideoCodec(
        name="prores_ks",
        pix_fmt="yuv422p10le",
        options={"profile": str(profile)},
        bt709=True,
        audio_codec="pcm_s16le",
    )


def _soundtrack(path: Path, rate: int) -> Iterator[np.ndarray]:
    """Stereo blocks of an audio file; errors inside it name the audio file, not the video."""
    return audio_source(path, rate, 2, 0.0)


class _AudioTrack:
    """Feeds an audio file into the output in step with the video, so the muxer can interleave
    without buffering, padding with silence once the source runs out."""

    def __init__(self, container: OutputContainer, codec: VideoCodec, source: Iterator[np.ndarray]):
        self._container = container
        self._rate = codec.audio_rate
        self._stream = container.add_stream(codec.audio_codec, rate=self._rate, layout="stereo")
        if codec.audio_codec == "aac":
            self._stream.codec_context.bit_rate = codec.audio_bitrate
        self._source = source
        self._pending = np.zeros((2, 0), np.float32)
        self._written = 0

    def fill(self, total: int) -> None:
        """Encode until exactly `total` samples have been written."""
        while self._written < total:
            if self._pending.shape[1] == 0:
                block = next(self._source, None)
                silence = (2, min(total - self._written, self._rate))
                self._pending = block if block is not None else np.zeros(silence, np.float32)
                continue
            block = self._pending[:, : total - self._written]
            self._pending = self._pending[:, block.shape[1] :]
            self._encode(block)

    def close(self) -> None:
        self._container.mux(self._stream.encode(None))

    def _encode(self, block: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block), format="fltp", layout="stereo"
        )
        frame.sample_rate = self._rate
        frame.pts = self._written
        frame.time_base = Fraction(1, self._rate)
        self._container.mux(self._stream.encode(frame))
        self._written += block.shape[1]


def _check_frame(frame: Frame, shape: tuple[int, ...] | None) -> None:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
    if shape is not None and frame.shape != shape:
        raise ValueError(
            f"frame size {frame.shape[1]}x{frame.shape[0]} differs from the first "
            f"frame's {shape[1]}x{shape[0]}"
        )


def _check_size(codec: VideoCodec, width: int, height: int) -> None:
    """Chroma-subsampled formats need sizes divisible by the subsampling; x264 would only say
    'Generic error' at open time."""
    fmt = av.VideoFormat(codec.pix_fmt)
    step_x, step_y = 1024 // fmt.chroma_width(1024), 1024 // fmt.chroma_height(1024)
    if width % step_x or height % step_y:
        raise ValueError(
            f"{codec.name} {codec.pix_fmt} needs a width divisible by {step_x} and a "
            f"height divisible by {step_y}, got {width}x{height}"
        )


def _container_options(
    path: Path, codec: VideoCodec, metadata: Mapping[str, str]
) -> dict[str, str]:
    """Bit-exact muxing (no random ids or version strings); mp4/mov drop tags they have no
    atom for, unless written as QuickTime mdta keys."""
    options = {**BITEXACT, **codec.container_options}
    if Path(path).suffix.lower() in _MOV_SUFFIXES and set(metadata) - _MOV_NATIVE_TAGS:
        options["movflags"] = options.get("movflags", "") + "+use_metadata_tags"
    return options


def _add_video_stream(
    container: OutputContainer, codec: VideoCodec, width: int, height: int, fps: Fraction
) -> VideoStream:
    options = {**encoder_options(codec.name), **codec.options}
    stream = container.add_stream(codec.name, rate=fps, options=options)
    stream.width, stream.height, stream.pix_fmt = width, height, codec.pix_fmt
    context = stream.codec_context
    if codec.name == "libx264":
        context.thread_type = "FRAME"
    if codec.bt709:
        context.colorspace = context.color_primaries = context.color_trc = 1
        context.color_range = 1
    return stream


def _video_frame(
    reformatter: VideoReformatter, frame: av.VideoFrame, codec: VideoCodec
) -> av.VideoFrame:
    if codec.bt709:
        return reformatter.reformat(
            frame, format=codec.pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG"
        )
    return reformatter.reformat(frame, format=codec.pix_fmt)


def _encodable_frames(
    arrays: Iterable[Frame], codec: VideoCodec, shape: tuple[int, ...], time_base: Fraction
) -> Iterator[av.VideoFrame]:
    """Frames in the codec's pixel format, converted on a worker thread one frame ahead.

    swscale and the encoder both release the GIL, so the conversion overlaps encoding. Arrays are
    copied into AVFrames on the caller's thread, so a producer may reuse its buffer, and the
    producer itself never runs on the worker."""
    reformatter = VideoReformatter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: deque[Future[av.VideoFrame]] = deque()
        for index, array in enumerate(arrays):
            _check_frame(array, shape)
            rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            rgb.pts, rgb.time_base = index, time_base
            pending.append(pool.submit(_video_frame, reformatter, rgb, codec))
            if len(pending) > 1:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _started(blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Run a reader up to its first block now, so a bad file fails before any output exists."""
    first = next(blocks, None)
    return blocks if first is None else itertools.chain([first], blocks)


def _encode(
    container: OutputContainer,
    arrays: Iterator[Frame],
    shape: tuple[int, ...],
    fps: Fraction,
    codec: VideoCodec,
    sound: Iterator[np.ndarray] | None,
    progress: Callable[[int], None] | None,
) -> int:
    stream = _add_video_stream(container, codec, shape[1], shape[0], fps)
    track = _AudioTrack(container, codec, sound) if sound is not None else None
    count = 0
    for frame in _encodable_frames(arrays, codec, shape, 1 / fps):
        container.mux(stream.encode(frame))
        count += 1
        if track is not None:
            track.fill(round(count * codec.audio_rate / fps))
        if progress is not None:
            progress(count)
    container.mux(stream.encode(None))
    if track is not None:
        track.close()
    return count


def write_video(
    path: Path,
    frames: Iterable[Frame],
    *,
    fps: Fraction,
    codec: VideoCodec,
    audio: Path | None = None,
    metadata: Mapping[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Encode frames to `path` as they arrive and return how many were written.

    The first frame fixes the size. `audio` (any file PyAV decodes) becomes a stereo track at
    `codec.audio_rate`, trimmed or padded with silence to exactly frames/fps. Writes straight to
    `path`; callers own atomic publishing."""
    fps = Fraction(fps)
    metadata = dict(metadata or {})
    arrays = iter(frames)
    first = next(arrays, None)
    if first is None:
        raise ValueError(f"{path}: no frames to write")
    _check_frame(first, None)
    _check_size(codec, first.shape[1], first.shape[0])
    with ExitStack() as stack:
        sound = None
        if audio is not None:
            reader = stack.enter_context(closing(_soundtrack(audio, codec.audio_rate)))
            sound = _started(reader)
        options = _container_options(path, codec, metadata)
        container = stack.enter_context(av.open(str(path), "w", container_options=options))
        container.metadata.update(metadata)
        arrays = itertools.chain([first], arrays)
        return _encode(container, arrays, first.shape, fps, codec, sound, progress)
