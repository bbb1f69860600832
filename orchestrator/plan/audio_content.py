"""Audio inputs whose samples are not numbers.

A float WAV (or AIFF, CAF...) can hold NaN and infinite samples, from a broken export or a
text-to-speech model that diverged; one of them turns the loudness measurement, and so the
whole mix, into silence. At plan time such files are counted: some bad samples are replaced by
silence (`media.read_audio` does it for every reader) with a warning naming the file and the
count; a file with no finite sample at all is refused, since it could only play as silence.
Integer formats (FLAC, 16/24-bit WAV) cannot hold NaN and lossy decoders emit finite samples,
so only float PCM is read, and only at plan time.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from orchestrator.engine.errors import UserError
from orchestrator.media import sndfile

FLOAT_PCM = "pcm_f"


def check_samples(path: Path, key: str) -> int:
    """The number of NaN/inf samples in `path` (warned about), or a UserError if all are."""
    bad = total = 0
    for samples in _float_samples(path):
        total += samples.size
        bad += samples.size - int(np.count_nonzero(np.isfinite(samples)))
    if bad and bad == total:
        raise UserError(key, f"every sample of {path} is NaN or infinite: it would play as silence")
    if bad:
        print(
            f"warning: {key}: {bad} of {total} samples of {path} are NaN or infinite; "
            "they play as silence",
            file=sys.stderr,
        )
    return bad


def _float_samples(path: Path) -> Iterator[np.ndarray]:
    """The file's samples as stored, when they are floats, from the decoder `media.read_audio`
    will use: PyAV, or libsndfile for a file FFmpeg refuses (probing already proved one works)."""
    try:
        container = av.open(str(path))
    except av.FFmpegError:
        if sndfile.stores_floats(path):
            yield from (frame.to_ndarray() for frame in sndfile.frames(path))
        return
    with container:
        stream = container.streams.audio[0]
        if stream.codec_context.name.startswith(FLOAT_PCM):
            yield from (frame.to_ndarray() for frame in container.decode(stream))
