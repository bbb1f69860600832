"""renga's overhead over a plain diffusers script, on the same tiny models and settings.

Job: one ZIT keyframe and N chained Wan 2.2 A14B segments (tiny random models, 64x64, 17-frame
clips, 4 steps). renga runs it through the real engine (compose, plan, graph, store, executor,
mux) with a fresh store each time; the reference script loads the same pipelines, renders the
keyframe, chains N clips from each clip's last frame and writes the same H.264 file.

Two process conditions, measured side by side, alternating, after one warm-up each:
- `process`: each run is a fresh process, as a user runs it: `python -m orchestrator ...`
  against `python bench/overhead.py --plain ...` (imports, model loading and all).
- `inprocess`: both run in this process with everything imported and warm: the strictest view,
  where renga's fixed per-run costs (Hydra compose, plan, report) weigh most against sub-second
  tiny-model work. Run with 4 and with 8 segments, it splits renga's own time into a fixed cost
  per run and a cost per segment node (lossless intermediates, manifests).
Ratios are of the best wall time of `--repeats` runs (robust on a shared, noisy machine). The
last line is the ratio a user sees: `ratio renga/plain wall time (...): X.XX` (goal <= 1.10).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from orchestrator.media.encode import h264, write_video

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

SIZE = 64
CLIP = 17
STEPS = 4
SEQ = 16
PROMPT = "a red kite over a field"
MOTION = "the kite climbs into the wind"


def renga_run(models: dict[str, Path], work: Path, segments: int) -> float:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf
    from rich.console import Console

    from orchestrator.config import CONF_DIR
    from orchestrator.engine.progress import Reporter
    from orchestrator.render.run import execute

    started = time.perf_counter()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("config", overrides=_overrides(models, work))
    cfg.job = OmegaConf.merge(cfg.job, _job(segments))
    reporter = Reporter(Console(file=io.StringIO()))
    with reporter:
        run = execute(cfg, work / "run", reporter)
    assert sum(n["stage"] == "segment" for n in run["nodes"]) == segments
    return time.perf_counter() - started


def plain_run(models: dict[str, Path], work: Path, segments: int) -> float:
    import numpy as np
    import torch
    from diffusers import WanImageToVideoPipeline, ZImagePipeline
    from PIL import Image

    started = time.perf_counter()
    zit = ZImagePipeline.from_pretrained(models["zit"], local_files_only=True)
    zit.set_progress_bar_config(disable=True)
    image = zit(
        PROMPT, height=SIZE, width=SIZE, num_inference_steps=STEPS, guidance_scale=0.0,
        max_sequence_length=SEQ, generator=torch.Generator("cpu").manual_seed(0),
    ).images[0]  # fmt: skip
    image.save(work / "keyframe.png")
    del zit
    wan = WanImageToVideoPipeline.from_pretrained(models["a14b"], local_files_only=True)
    wan.set_progress_bar_config(disable=True)
    wan.scheduler = type(wan.scheduler).from_config(wan.scheduler.config, flow_shift=5.0)
    kept: list[np.ndarray] = []
    for index in range(segments):
        clip = wan(
            image=image, prompt=MOTION, negative_prompt="blurry", height=SIZE, width=SIZE,
            num_frames=CLIP, num_inference_steps=STEPS, guidance_scale=3.5,
            guidance_scale_2=3.5, max_sequence_length=SEQ, output_type="np",
            generator=torch.Generator("cpu").manual_seed(index),
        ).frames[0]  # fmt: skip
        frames = [(np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8) for f in clip]
        kept.extend(frames if index == 0 else frames[1:])
        image = Image.fromarray(frames[-1])
    write_video(work / "final.mp4", iter(kept), fps=Fraction(16), codec=h264())
    return time.perf_counter() - started


def _job(segments: int) -> dict[str, Any]:
    frames = CLIP + (segments - 1) * (CLIP - 1)
    shot = {"prompt": PROMPT, "motion": MOTION, "frames": frames}
    return {"width": SIZE, "height": SIZE, "soundtrack": None, "negative_prompt": "blurry",
            "shots": [shot]}  # fmt: skip


def _overrides(models: dict[str, Path], work: Path) -> list[str]:
    return [
        f"keyframes.model={models['zit']}", f"video.model={models['a14b']}",
        f"keyframes.steps={STEPS}", f"keyframes.resolution={SIZE}",
        f"keyframes.max_sequence_length={SEQ}", f"video.steps={STEPS}", f"video.frames={CLIP}",
        f"video.max_sequence_length={SEQ}", "audio=none", f"cache_dir={work / 'cache'}",
    ]  # fmt: skip


def renga_process(models: dict[str, Path], work: Path, segments: int) -> float:
    import yaml

    jobs = work / "conf" / "job"
    jobs.mkdir(parents=True)
    job = {"name": "overhead", "fps": None, "style": "", "transition": "cut", "loop": "none",
           **_job(segments)}  # fmt: skip
    (jobs / "overhead.yaml").write_text(yaml.safe_dump(job, sort_keys=False))
    argv = [sys.executable, "-m", "orchestrator", "--config-dir", str(work / "conf"),
            "job=overhead", *_overrides(models, work), f"hydra.run.dir={work / 'run'}"]  # fmt: skip
    seconds = timed_process(argv)
    run = json.loads((work / "run" / "run.json").read_text())
    assert sum(n["stage"] == "segment" for n in run["nodes"]) == segments
    return seconds


def plain_process(models: dict[str, Path], work: Path, segments: int) -> float:
    argv = [sys.executable, __file__, "--plain", str(models["zit"]), str(models["a14b"]),
            str(work), "--segments", str(segments)]  # fmt: skip
    return timed_process(argv)


def timed_process(argv: list[str]) -> float:
    """Wall seconds of one fresh process (`bench/ltx2_overhead.py` times its runs the same way)."""
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"{' '.join(argv[:4])} failed:\n{result.stderr[-2000:]}")
    return seconds


RUNNERS: dict[str, dict[str, Callable[[dict[str, Path], Path, int], float]]] = {
    "inprocess": {"renga": renga_run, "plain": plain_run},
    "process": {"renga": renga_process, "plain": plain_process},
}


def measure(
    mode: str, models: dict[str, Path], root: Path, segments: int, repeats: int
) -> dict[str, float]:
    """Best wall time of each side over `repeats` alternating runs, after one warm-up each."""
    best = {"renga": math.inf, "plain": math.inf}
    for rep in range(repeats + 1):
        order = ("renga", "plain") if rep % 2 == 0 else ("plain", "renga")
        for name in order:
            work = root / f"{mode}-{segments}-{name}{rep}"
            work.mkdir()
            seconds = RUNNERS[mode][name](models, work, segments)
            note = " (warm-up)" if rep == 0 else ""
            print(f"{mode:9s} {segments} segments {name:5s} run {rep}{note}: {seconds:.2f} s")
            if rep > 0:
                best[name] = min(best[name], seconds)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument(
        "--process-only", action="store_true",
        help="measure only the fresh-process condition (the ratio a user sees)",
    )  # fmt: skip
    parser.add_argument(
        "--plain", nargs=3, metavar=("ZIT", "A14B", "WORK"),
        help="run only the plain script (the child process of the `process` condition)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.plain:
        zit, a14b, work = map(Path, args.plain)
        plain_run({"zit": zit, "a14b": a14b}, work, args.segments)
        return

    import tiny_models

    with tempfile.TemporaryDirectory(prefix="renga-overhead-") as tmp:
        root = Path(tmp)
        models = {
            "zit": tiny_models.zit(root / "models" / "zit"),
            "a14b": tiny_models.wan_a14b(root / "models" / "a14b"),
        }
        n, more = args.segments, 2 * args.segments
        if args.process_only:
            process = measure("process", models, root, n, args.repeats)
            print(f"ratio renga/plain wall time (fresh processes, best of {args.repeats}): "
                  f"{process['renga'] / process['plain']:.2f}")  # fmt: skip
            return
        inproc = measure("inprocess", models, root, n, args.repeats)
        inproc_more = measure("inprocess", models, root, more, args.repeats)
        process = measure("process", models, root, n, args.repeats)
        own = inproc["renga"] - inproc["plain"]
        own_more = inproc_more["renga"] - inproc_more["plain"]
        per_segment = (own_more - own) / (more - n)
        print(f"in-process, {n} segments: renga {inproc['renga']:.2f} s, plain "
              f"{inproc['plain']:.2f} s, ratio "
              f"{inproc['renga'] / inproc['plain']:.2f}")  # fmt: skip
        print(f"in-process, {more} segments: renga {inproc_more['renga']:.2f} s, plain "
              f"{inproc_more['plain']:.2f} s, ratio "
              f"{inproc_more['renga'] / inproc_more['plain']:.2f}")  # fmt: skip
        print(f"renga's own time: {own - n * per_segment:+.3f} s per run "
              f"{per_segment * 1000:+.1f} ms per segment node")  # fmt: skip
        print(f"fresh processes, {n} segments: renga {process['renga']:.2f} s, plain "
              f"{process['plain']:.2f} s")  # fmt: skip
        print(f"ratio renga/plain wall time (fresh processes, best of {args.repeats}): "
              f"{process['renga'] / process['plain']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
