"""Opening media files with PyAV: `MediaError` naming the path, the container and its first
video or audio stream, and the frame type every reader yields."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.video.stream import VideoStream

Frame = np.ndarray


class MediaError(Exception):
    """A file that cannot be read/decoded as the expected media; the message names the path."""


@contextmanager
def media_errors(path: Path, what: str) -> Iterator[None]:
    """Turn PyAV/OS failures into a MediaError that names the file, as the planner reports it."""
    try:
        yield
    except MediaError:
        raise
    except FileNotFoundError as exc:
        raise MediaError(f"{path}: file not found") from exc
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: cannot read as {what}: {exc}") from exc


@contextmanager
def reading(path: Path, what: str) -> Iterator[InputContainer]:
    with media_errors(path, what):
        if not Path(path).is_file():
            raise MediaError(f"{path}: file not found")
        with av.open(str(path)) as container:
            yield container


def video_stream(container: InputContainer, path: Path) -> VideoStream:
    if not container.streams.video:
        raise MediaError(f"{path}: no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return stream


def audio_stream(container: InputContainer, path: Path) -> AudioStream:
    if not container.streams.audio:
        raise MediaError(f"{path}: no audio stream")
    return container.streams.audio[0]
