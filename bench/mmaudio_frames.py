"""MMAudio conditioning frames for an 8 s window late in a long video: ours vs a plain reader.

Ours (`stages.audio.mmaudio.frames.window_frames`) seeks to the window and keeps only the
sampled, resized frames. The reference does what MMAudio's `load_video` does: decode from the
start, keep every decoded RGB frame, then pick the 8/25-fps frames. Each runs in its own
subprocess; the kernel's peak RSS and the wall time are compared.
Last line: `ratio reference/ours: peak RSS X.XX, time X.XX`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from orchestrator.media.encode import h264, write_video
from orchestrator.media.video import probe_video, read_frames

ROOT = Path(__file__).resolve().parent.parent


def make_video(path: Path, seconds: int, fps: int, width: int, height: int) -> None:
    import numpy as np

    ramp = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]

    def frames():
        for i in range(seconds * fps):
            frame = np.broadcast_to(ramp, (height, width, 3)).copy()
            frame[:, :, 0] = i % 256
            yield frame

    write_video(path, frames(), fps=Fraction(fps), codec=h264())


def ours(path: Path, start: float, duration: float) -> None:
    from stages.audio.mmaudio.frames import window_frames

    window_frames(path, start, duration)


def reference(path: Path, start: float, duration: float) -> None:
    import torch

    from stages.audio.mmaudio.frames import (
        CLIP_FPS,
        SYNC_FPS,
        clip_transform,
        source_indices,
        sync_transform,
    )

    info = probe_video(path)
    every = list(read_frames(path, 0, int((start + duration) * info.fps) + 1))
    torch.stack(
        [clip_transform(every[i]) for i in source_indices(info.fps, start, duration, CLIP_FPS)]
    )
    torch.stack(
        [sync_transform(every[i]) for i in source_indices(info.fps, start, duration, SYNC_FPS)]
    )


def measure(mode: str, path: Path, start: float, duration: float) -> tuple[float, float]:
    argv = [sys.executable, __file__, "--run", mode, str(path), str(start), str(duration)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    began = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{mode} failed")
    return usage.ru_maxrss / 1024, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--run", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        mode, path, start, duration = args.run
        {"ours": ours, "reference": reference}[mode](Path(path), float(start), float(duration))
        return
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "long.mp4"
        make_video(path, args.seconds, args.fps, width, height)
        start = args.seconds - 10.0
        results = {mode: measure(mode, path, start, 8.0) for mode in ("ours", "reference")}
    for mode, (rss, wall) in results.items():
        print(f"{mode:9s} peak RSS {rss:8.1f} MiB  time {wall:6.2f} s")
    (rss_ours, t_ours), (rss_ref, t_ref) = results["ours"], results["reference"]
    print(f"window 8 s at {start:g} s of a {args.seconds} s {args.size} {args.fps} fps H.264 video")
    print(f"ratio reference/ours: peak RSS {rss_ref / rss_ours:.2f}, time {t_ref / t_ours:.2f}")


if __name__ == "__main__":
    main()
