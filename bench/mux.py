"""Final-mux speed: renga's `write_video` against the ffmpeg CLI on the same frames and settings.

Both encode pre-generated 1280x720 RGB frames to H.264 (libx264, veryfast, CRF 23, yuv420p,
BT.709, +faststart); frames are generated once before timing. Runs alternate and the medians are
compared, because a shared machine is noisy. Run from the repository root:

    python -m bench.mux [--frames 300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from orchestrator.media.encode import h264, write_video

WIDTH, HEIGHT, FPS = 1280, 720, Fraction(24)
CRF, PRESET = 23, "veryfast"


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu_seconds: float
    size: int


def make_frames(count: int) -> list[np.ndarray]:
    """A smooth moving gradient and a moving blob: content x264 treats like real footage."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    frames = []
    for i in range(count):
        cx = WIDTH * (0.5 + 0.35 * np.cos(i * 0.05))
        cy = HEIGHT * (0.5 + 0.35 * np.sin(i * 0.07))
        blob = 160 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 70.0**2))
        red = 110 + 90 * np.sin(x / 140 + i * 0.04) + blob
        green = 110 + 90 * np.sin(y / 90 - i * 0.03) + 0.4 * blob
        blue = 110 + 90 * np.sin((x + y) / 200 + i * 0.02)
        frames.append(np.clip(np.stack([red, green, blue], axis=-1), 0, 255).astype(np.uint8))
    return frames


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(encode: Callable[[Path], None], out: Path) -> Run:
    cpu, start = cpu_seconds(), time.perf_counter()
    encode(out)
    return Run(time.perf_counter() - start, cpu_seconds() - cpu, out.stat().st_size)


def renga(frames: Sequence[np.ndarray]) -> Callable[[Path], None]:
    def encode(out: Path) -> None:
        write_video(out, frames, fps=FPS, codec=h264(crf=CRF, preset=PRESET))

    return encode


def ffmpeg(frames: Sequence[np.ndarray]) -> Callable[[Path], None]:
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS),
        "-i", "-",
        "-vf", "scale=out_color_matrix=bt709:out_range=tv",
        "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF), "-pix_fmt", "yuv420p",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-movflags", "+faststart",
    ]  # fmt: skip

    def encode(out: Path) -> None:
        with subprocess.Popen([*command, str(out)], stdin=subprocess.PIPE) as process:
            assert process.stdin is not None
            for frame in frames:
                process.stdin.write(frame.data)
            process.stdin.close()
        if process.returncode:
            raise RuntimeError(f"ffmpeg exited with {process.returncode}")

    return encode


def report(name: str, runs: list[Run], frames: int) -> float:
    fps = statistics.median(frames / run.seconds for run in runs)
    cpu = statistics.median(run.cpu_seconds for run in runs) / frames * 1000
    size = statistics.median(run.size for run in runs) / 1024
    spread = ", ".join(f"{frames / run.seconds:.1f}" for run in runs)
    print(f"{name:>6}: {fps:6.1f} fps  [{spread}]  CPU {cpu:.1f} ms/frame  {size:.0f} KiB")
    return fps


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    print(f"generating {args.frames} frames of {WIDTH}x{HEIGHT} ...")
    frames = make_frames(args.frames)
    encoders = {"renga": renga(frames), "ffmpeg": ffmpeg(frames)}
    runs: dict[str, list[Run]] = {name: [] for name in encoders}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            order = list(encoders) if repeat % 2 == 0 else list(reversed(encoders))
            for name in order:
                run = timed(encoders[name], Path(tmp) / f"{name}.mp4")
                runs[name].append(run)
                print(f"  run {repeat + 1} {name}: {args.frames / run.seconds:.1f} fps")
    renga_fps = report("renga", runs["renga"], args.frames)
    ffmpeg_fps = report("ffmpeg", runs["ffmpeg"], args.frames)
    print(f"ratio renga/ffmpeg fps: {renga_fps / ffmpeg_fps:.2f}")


if __name__ == "__main__":
    main()
