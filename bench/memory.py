"""Peak memory of a long render vs a short one: frames must stream, so the ratio stays near 1.

Renders draft jobs of 1 and 10 minutes at 1280x720 through the real CLI, each in its own
subprocess with a fresh store, and reads the peak RSS the kernel recorded for that process.
Last line: `ratio 10min/1min peak RSS: X.XX`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

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


def peak_rss_mib(minutes: float, work: Path, shot_seconds: float) -> tuple[float, float]:
    """Render one job in a subprocess; returns (peak RSS in MiB, wall seconds)."""
    jobs = work / f"jobs{minutes:g}" / "job"
    jobs.mkdir(parents=True)
    (jobs / "bench.yaml").write_text(yaml.safe_dump(job(minutes, shot_seconds)))
    argv = [
        sys.executable, "-m", "orchestrator", "--config-dir", str(jobs.parent), "job=bench",
        "preset=draft", f"cache_dir={work / f'cache{minutes:g}'}",
        f"hydra.run.dir={work / f'run{minutes:g}'}",
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"render of {minutes:g} min failed with exit {process.returncode}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", type=float, default=1.0, help="minutes")
    parser.add_argument("--long", type=float, default=10.0, help="minutes")
    parser.add_argument("--shot-seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="renga-bench-memory-") as tmp:
        short, short_s = peak_rss_mib(args.short, Path(tmp), args.shot_seconds)
        print(f"{args.short:g} min @ 1280x720: peak RSS {short:.0f} MiB ({short_s:.0f} s)")
        long, long_s = peak_rss_mib(args.long, Path(tmp), args.shot_seconds)
        print(f"{args.long:g} min @ 1280x720: peak RSS {long:.0f} MiB ({long_s:.0f} s)")
    print(f"ratio {args.long:g}min/{args.short:g}min peak RSS: {long / short:.2f}")


if __name__ == "__main__":
    main()
