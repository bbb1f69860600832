"""A stand-in lip-sync program for tests: draws a mouth whose height follows the speech level.

Behaves like the real tools renga drives: reads `--video` and `--audio`, writes `--out` at the
input's frame rate with the audio's duration. FAKE_LIPSYNC_MODE makes it misbehave:
fail | noface | nooutput | short | hang.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from fractions import Fraction

import av
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", required=True)
    parser.add_argument("--audio", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    mode = os.environ.get("FAKE_LIPSYNC_MODE", "ok")
    print(f"fake lipsync starting in {os.getcwd()}", file=sys.stderr)
    if mode == "fail":
        print("RuntimeError: CUDA error: something broke", file=sys.stderr)
        sys.exit(3)
    if mode == "noface":
        print("RuntimeError: Face not detected", file=sys.stderr)
        sys.exit(1)
    if mode == "hang":
        time.sleep(600)
    if mode == "nooutput":
        return

    with av.open(args.audio) as container:
        speech = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
        rate = container.streams.audio[0].rate
    speech = speech.astype(np.float32) / (32768.0 if speech.dtype == np.int16 else 1.0)
    with av.open(args.video) as container:
        stream = container.streams.video[0]
        fps = Fraction(stream.average_rate)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    seconds = len(speech) / rate
    if mode == "short":
        seconds /= 2
    count = math.ceil(seconds * fps - 1e-6)
    with av.open(args.out, "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"crf": "10"})
        video.width, video.height, video.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv444p"
        for k in range(count):
            frame = frames[min(k, len(frames) - 1)].copy()
            window = speech[int(k / fps * rate) : int((k + 1) / fps * rate)]
            level = float(np.sqrt(np.mean(window**2))) if window.size else 0.0
            height = int(round(min(1.0, level * 4) * frame.shape[0] / 3))
            if height:
                cy, cx = frame.shape[0] * 3 // 4, frame.shape[1] // 2
                frame[
                    cy - height // 2 : cy + height // 2 + 1,
                    cx - frame.shape[1] // 6 : cx + frame.shape[1] // 6,
                ] = (20, 0, 0)
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(video.encode(None))


if __name__ == "__main__":
    main()
