"""Plumbing of the GPU bench: a time budget with phases, the job file, and renga (or the plain
script) in a fresh process whose failure becomes a table cell instead of ending the bench.

The first GPU session is one call of a few minutes for everything, so rows run in priority
order and a row that would pass the budget is skipped and says so; what ran is printed (and
written to `--json`) as soon as it finishes, so a run cut short still reports.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "a red kite over a field"
MOTION = "the kite climbs into the wind"
GRACE_S = 30.0  # a row that started inside the budget may run this far past it


class Budget:
    """Seconds since the bench started, against a limit (0: none), and where they went."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.perf_counter()
        self.phases: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def allows(self, estimate: float) -> bool:
        return not self.seconds or self.elapsed() + estimate <= self.seconds

    def timeout(self) -> float | None:
        """How long the next process may run: to the budget's end plus a grace."""
        if not self.seconds:
            return None
        return max(self.seconds - self.elapsed(), 0.0) + GRACE_S

    @contextmanager
    def phase(self, name: str, say: bool = True) -> Iterator[None]:
        """Time spent under `name` (adding up over calls); `say` prints it when done (rows
        are not said: a line between a table's rows would break the table)."""
        began = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - began
            self.phases[name] = self.phases.get(name, 0.0) + took
            if say:
                print(f"phase {name}: {took:.1f} s (elapsed {self.elapsed():.0f} s)", flush=True)

    def summary(self) -> str:
        parts = ", ".join(f"{name} {took:.0f} s" for name, took in self.phases.items())
        return f"phases: {parts}; total {self.elapsed():.0f} s"


@dataclass
class Outcome:
    """One process: its wall time, and run.json (renga) or its failure in one line."""

    wall: float
    error: str | None = None
    run: dict[str, Any] = field(default_factory=dict)


def run_process(argv: Sequence[str], timeout: float | None) -> tuple[float, str | None]:
    """Wall seconds and, when it failed, its last stderr line (renga's own one-line error, or
    a traceback's last line)."""
    began = time.perf_counter()
    try:
        done = subprocess.run(
            list(argv), cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - began, f"timed out after {timeout:.0f} s (--budget)"
    wall = time.perf_counter() - began
    if done.returncode == 0:
        return wall, None
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    return wall, f"exit {done.returncode}: {last[:300]}"


def start_image(path: Path, width: int, height: int) -> Path:
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], -1)
    Image.fromarray(rgb.astype(np.uint8)).save(path)
    return path


def renga(work: Path, spec: dict[str, Any], clips: int, overrides: Sequence[str],
          timeout: float | None) -> Outcome:  # fmt: skip
    """One shot of `clips` chained clips of `spec['frames']` frames from a gradient keyframe,
    rendered by `python -m orchestrator` with a store of its own (nothing is cached)."""
    import yaml

    jobs = work / "conf" / "job"
    jobs.mkdir(parents=True)
    image = start_image(work / "start.png", spec["width"], spec["height"])
    shot = {"image": str(image), "prompt": PROMPT, "motion": MOTION,
            "frames": spec["frames"] + (clips - 1) * (spec["frames"] - 1)}  # fmt: skip
    job = {"name": "gpu", "width": spec["width"], "height": spec["height"], "fps": None,
           "style": "", "negative_prompt": "blurry", "transition": "cut", "loop": "none",
           "soundtrack": None, "shots": [shot]}  # fmt: skip
    (jobs / "gpu.yaml").write_text(yaml.safe_dump(job, sort_keys=False))
    argv = [
        sys.executable, "-m", "orchestrator", "--config-dir", str(work / "conf"), "job=gpu",
        "keyframes=images", "audio=none", f"video.frames={spec['frames']}",
        f"cache_dir={work / 'cache'}", f"hydra.run.dir={work / 'run'}", *overrides,
    ]  # fmt: skip
    wall, error = run_process(argv, timeout)
    if error:
        return Outcome(wall, error)
    return Outcome(wall, run=json.loads((work / "run" / "run.json").read_text()))


def segments(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in run.get("nodes", []) if n["stage"] == "segment"]


def peak_gib(run: dict[str, Any]) -> float | None:
    """The highest GPU peak of any node (each node's peak is measured from its own start)."""
    peaks = [n.get("metrics", {}).get("peak_vram_gib") for n in run.get("nodes", [])]
    return max((p for p in peaks if p is not None), default=None)


class Table:
    """A markdown table printed as its rows come. The title and header go out with the first
    row, so whatever a model build prints comes before the table, not inside it."""

    def __init__(self, title: str, columns: Sequence[str]) -> None:
        self.pending = [
            f"\n{title}",
            "| " + " | ".join(columns) + " |",
            "|---" * len(columns) + "|",
        ]

    def row(self, values: Sequence[str]) -> None:
        for line in self.pending:
            print(line)
        self.pending = []
        print("| " + " | ".join(values) + " |", flush=True)


def cell(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value).replace("|", "/")


def save_json(path: Path | None, rows: list[dict[str, Any]]) -> None:
    """Every row so far (rewritten after each row, so a run cut short keeps what it measured)."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows, indent=1))
