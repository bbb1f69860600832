"""Run every benchmark and print one table of the ratios they measure.

Each benchmark is its own script whose last line is `ratio <what>: X`; this runs them one after
another (never in parallel: they measure time and memory) and adds the re-run time of a
finished job. `--quick` shrinks the long ones for a smoke run.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RATIO = re.compile(r"^ratio (.+?):\s*([0-9.]+)\s*$")


def benchmarks(quick: bool) -> list[tuple[str, list[str], str]]:
    """(name, argv, what a good ratio looks like)."""
    return [
        ("mux vs ffmpeg CLI (fps)", ["-m", "bench.mux", *(["--frames", "120"] if quick else [])],
         ">= 1.0"),
        ("overhead vs plain pipelines (wall)", ["bench/overhead.py"], "<= 1.10"),
        ("memory 10 min / 1 min (peak RSS)",
         ["bench/memory.py", *(["--short", "0.25", "--long", "1"] if quick else [])], "<= 1.25"),
        ("memory music video 60 min / 1 min track, 30 s window (peak RSS)",
         ["bench/memory.py", "--music", *(["--long", "1"] if quick else [])], "<= 1.25"),
        ("MMAudio flow load plain / ours (s)", ["bench/mmaudio_flow.py"], ">= 1.0"),
        ("seam motion frame / motion context",
         ["bench/continuation.py", *(["--clips", "3"] if quick else [])], ">= 3"),
        ("ray 2 workers / local (wall)",
         ["bench/ray_scaling.py", *(["--shots", "4"] if quick else [])], "< 1 with 2 GPUs"),
    ]  # fmt: skip


def run(argv: list[str]) -> tuple[str, str]:
    script = ROOT / argv[0]
    if argv[0] != "-m" and not script.exists():
        return "-", f"missing {argv[0]}"
    done = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, check=False
    )
    lines = done.stdout.strip().splitlines()
    match = RATIO.match(lines[-1]) if lines else None
    if done.returncode or match is None:
        return "-", f"failed (exit {done.returncode}): {(done.stderr or done.stdout)[-200:]!r}"
    return match.group(2), lines[-2] if len(lines) > 1 else ""


def rerun_ratio() -> tuple[str, str]:
    """Seconds to re-run a finished draft job / seconds to render it."""
    with tempfile.TemporaryDirectory(prefix="renga-bench-rerun-") as tmp:
        argv = [sys.executable, "-m", "orchestrator", "preset=draft", f"cache_dir={tmp}/store"]
        times = []
        for attempt in range(2):
            started = time.perf_counter()
            subprocess.run(
                [*argv, f"hydra.run.dir={tmp}/run{attempt}"], cwd=ROOT, check=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            times.append(time.perf_counter() - started)
    return f"{times[1] / times[0]:.2f}", f"render {times[0]:.1f} s, re-run {times[1]:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = []
    for name, argv, goal in benchmarks(args.quick):
        print(f"running {name} ...", flush=True)
        ratio, detail = run(argv)
        rows.append((name, ratio, goal, detail))
    print("running re-run of a finished job ...", flush=True)
    ratio, detail = rerun_ratio()
    rows.append(("re-run / first render (wall)", ratio, "small", detail))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'benchmark':<{width}}  {'ratio':>6}  {'goal':<16} detail")
    for name, ratio, goal, detail in rows:
        print(f"{name:<{width}}  {ratio:>6}  {goal:<16} {detail}")


if __name__ == "__main__":
    main()
