"""Ray with N workers vs the local executor on independent draft segments (a cut job).

Both render the same job into fresh stores; last line: `ratio ray/local wall time: X.XX`
(below 1 means Ray finished first). On a CPU-only machine the workers stand in for GPUs through
a custom resource.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def render(work: Path, name: str, shots: int, extra: list[str]) -> float:
    jobs = work / "jobs" / "job"
    jobs.mkdir(parents=True, exist_ok=True)
    job = {
        "name": "ray_bench", "width": 832, "height": 480, "fps": None, "style": "",
        "negative_prompt": "", "transition": "cut", "loop": "none", "soundtrack": None,
        "shots": [{"prompt": f"shot {i}", "motion": "drift", "seconds": 5.0} for i in range(shots)],
    }  # fmt: skip
    (jobs / "bench.yaml").write_text(yaml.safe_dump(job))
    argv = [
        sys.executable, "-m", "orchestrator", "--config-dir", str(jobs.parent), "job=bench",
        "preset=draft", "audio=none", f"cache_dir={work / name}",
        f"hydra.run.dir={work / name}-run", *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    ray = [
        "executor=ray", f"executor.workers={args.workers}", "executor.gpus_per_worker=0",
        "+executor.resources_per_worker.bench_gpu=1",
        f"+executor.local_resources.bench_gpu={args.workers}",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="renga-bench-ray-") as tmp:
        local = render(Path(tmp), "local", args.shots, [])
        print(f"local executor: {local:.1f} s for {args.shots} independent 5 s shots")
        spread = render(Path(tmp), "ray", args.shots, ray)
        print(f"ray, {args.workers} workers: {spread:.1f} s (includes starting Ray)")
    print(f"ratio ray/local wall time: {spread / local:.2f}")


if __name__ == "__main__":
    main()
