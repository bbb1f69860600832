"""Peak memory of a long render vs a short one: frames must stream, so the ratio stays near 1.

Renders draft jobs of 1 and 10 minutes at 1280x720 through the real CLI, each in its own
subprocess with a fresh store, and reads the peak RSS the kernel recorded for that process.
Last line: `ratio 10min/1min peak RSS: X.XX`.

`--music`: a draft music video with a 30-second window over a 1-hour track and over a 1-minute
one (beat analysis must decode only the window, not the file). Last line:
`ratio 60min/1min track peak RSS: X.XX`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from orchestrator.media.audio import write_audio

ROOT = Path(__file__).resolve().parent.parent


def job(minutes: float, shot_seconds: float) -> dict:
    shots = round(minutes * 60 / shot_seconds)
    return {
        "name": f"memory_{minutes:g}min",
        "width": 1280,
        "height": 720,
        "fps": None,
        "style": "",
        "negative_prompt": "",
        "transition": "continue",
        "loop": "none",
        "soundtrack": str(ROOT / "assets" / "music" / "loop_120bpm.flac"),
        "shots": [
            {"prompt": f"shot {i}: a long take", "motion": "slow drift", "seconds": shot_seconds}
            for i in range(shots)
        ],
    }


def click_track(path: Path, seconds: int, rate: int = 22050) -> Path:
    """A 120 BPM click over a quiet tone, written in 10 s blocks (an hour takes ~5 s)."""
    beat = np.zeros(rate // 2, np.float32)
    beat[:200] = np.hanning(400)[200:] * 0.8
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(10 * rate) / rate).astype(np.float32)
    clicks = np.tile(beat, 20)

    def blocks():
        for done in range(0, seconds, 10):
            n = min(10, seconds - done) * rate
            yield (tone[:n] + clicks[:n])[None, :]

    write_audio(path, blocks(), rate)
    return path


def music_job(track: Path, window: float) -> dict:
    return {
        "name": "memory_music",
        "width": 832,
        "height": 480,
        "soundtrack": str(track),
        "shots": [{"prompt": "a dancer under neon lights"}, {"prompt": "rain on a street"}],
        "music": {"enabled": True, "max_seconds": window},
    }


def peak_rss_mib(minutes: float, work: Path, shot_seconds: float) -> tuple[float, float]:
    """Render one job in a subprocess; returns (peak RSS in MiB, wall seconds)."""
    return render(f"{minutes:g}", job(minutes, shot_seconds), work)


def render(name: str, spec: dict, work: Path) -> tuple[float, float]:
    """Render `spec` as a draft in a subprocess; returns (peak RSS in MiB, wall seconds)."""
    jobs = work / f"jobs{name}" / "job"
    jobs.mkdir(parents=True)
    (jobs / "bench.yaml").write_text(yaml.safe_dump(spec))
    argv = [
        sys.executable, "-m", "orchestrator", "--config-dir", str(jobs.parent), "job=bench",
        "preset=draft", f"cache_dir={work / f'cache{name}'}",
        f"hydra.run.dir={work / f'run{name}'}",
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"render of {name} failed with exit {process.returncode}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", type=float, default=1.0, help="minutes")
    parser.add_argument("--long", type=float, default=10.0, help="minutes")
    parser.add_argument("--shot-seconds", type=float, default=10.0)
    parser.add_argument("--music", action="store_true", help="music video over a long track")
    parser.add_argument("--window", type=float, default=30.0, help="--music: seconds")
    args = parser.parse_args()
    if args.music:
        music(args.short, args.long * 6, args.window)
        return
    with tempfile.TemporaryDirectory(prefix="renga-bench-memory-") as tmp:
        short, short_s = peak_rss_mib(args.short, Path(tmp), args.shot_seconds)
        print(f"{args.short:g} min @ 1280x720: peak RSS {short:.0f} MiB ({short_s:.0f} s)")
        long, long_s = peak_rss_mib(args.long, Path(tmp), args.shot_seconds)
        print(f"{args.long:g} min @ 1280x720: peak RSS {long:.0f} MiB ({long_s:.0f} s)")
    print(f"ratio {args.long:g}min/{args.short:g}min peak RSS: {long / short:.2f}")


def music(short: float, long: float, window: float) -> None:
    """The same window of a short and a long track: peak RSS must not follow the file."""
    peaks = {}
    with tempfile.TemporaryDirectory(prefix="renga-bench-memory-") as tmp:
        for minutes in (short, long):
            track = click_track(Path(tmp) / f"track{minutes:g}.flac", round(minutes * 60))
            peak, took = render(f"music{minutes:g}", music_job(track, window), Path(tmp))
            peaks[minutes] = peak
            print(f"{window:g} s music video over a {minutes:g} min track: peak RSS {peak:.0f} MiB "
                  f"({took:.0f} s)")  # fmt: skip
    print(f"ratio {long:g}min/{short:g}min track peak RSS: {peaks[long] / peaks[short]:.2f}")


if __name__ == "__main__":
    main()
