"""Seams, colour drift and loops, measured on a 10-segment draft job with synthetic drift.

Renders the job through the real CLI with colour correction off and with each method, with
and without a cosine crossfade, and as a closure loop, then prints the metrics renga wrote to
run.json. Last line: `drift ratio none/reinhard_lab: X.X`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

# The job the tests hold to the done-when numbers: the bench prints those same numbers.
from test_fidelity import DRIFT  # noqa: E402


def render(work: Path, size: tuple[int, int], loop: str, *args: str) -> dict[str, Any]:
    """One run; returns the assemble node's metrics."""
    job = {
        "name": "fidelity", "width": size[0], "height": size[1], "fps": None, "style": "",
        "negative_prompt": "", "transition": "continue", "loop": loop, "soundtrack": None,
        "shots": [{"prompt": f"shot {i}", "motion": "on", "frames": 25} for i in range(10)],
    }  # fmt: skip
    (work / "job").mkdir(parents=True, exist_ok=True)
    (work / "job" / "fidelity.yaml").write_text(yaml.safe_dump(job))
    run_dir = work / "run"
    argv = [
        sys.executable, "-m", "orchestrator", "--config-dir", str(work), "job=fidelity",
        f"cache_dir={work / 'cache'}", f"hydra.run.dir={run_dir}", *DRIFT, *args,
    ]  # fmt: skip
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
    run = json.loads((run_dir / "run.json").read_text())
    return next(n for n in run["nodes"] if n["id"] == "assemble")["metrics"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=144)
    args = parser.parse_args()
    size = (args.width, args.height)
    with tempfile.TemporaryDirectory(prefix="renga-bench-fidelity-") as tmp:
        work = Path(tmp)
        print(f"10 chained segments at {size[0]}x{size[1]}, synthetic drift: {' '.join(DRIFT[1:])}")
        ends = {}
        for method in ("none", "reinhard_lab", "mkl", "histogram"):
            m = render(work, size, "none", f"assemble.color_match={method}")
            ends[method] = m["drift_end"]
            print(f"color_match={method:<13} end dE {m['drift_end']:6.2f}  max dE "
                  f"{m['drift_max']:6.2f}  seam jump mean {m['seam_jump_mean']:.2f} "
                  f"max {m['seam_jump_max']:.2f}")  # fmt: skip
        for method in ("none", "reinhard_lab"):
            m = render(work, size, "none", f"assemble.color_match={method}",
                       "assemble.overlap_frames=8", "assemble.crossfade=cosine")  # fmt: skip
            print(
                f"cosine crossfade 8, color_match={method}: seam jump mean "
                f"{m['seam_jump_mean']:.2f} max {m['seam_jump_max']:.2f}"
            )
        m = render(work, size, "closure", "assemble.color_match=reinhard_lab")
        print(
            f"closure loop: loop seam {m['loop_seam']:.2f} vs mean seam {m['seam_jump_mean']:.2f}"
        )
        for method in ("mkl", "histogram"):
            print(f"drift ratio none/{method}: {ends['none'] / max(ends[method], 1e-3):.1f}")
        print(
            f"drift ratio none/reinhard_lab: {ends['none'] / max(ends['reinhard_lab'], 1e-3):.1f}"
        )


if __name__ == "__main__":
    main()
