"""renga's overhead over a plain diffusers script, on the same tiny models and settings.

Job: one ZIT keyframe and four chained Wan 2.2 A14B segments (tiny random models, 64x64,
17-frame clips, 4 steps: small, yet enough work per segment that per-node costs show as they
would on a real run rather than as a fixed per-process cost).
renga runs it through the real engine (compose, plan, graph, store, executor, mux) with a fresh
store each time; the reference script loads the same pipelines, renders the keyframe, chains
four clips from each clip's last frame and writes the same H.264 file. Both run in this
process, alternating, after one warm-up each. Prints the median wall and CPU times and, last,
the ratio of the best wall times of `--repeats` runs (robust on a shared, noisy machine):
`ratio renga/plain wall time (best of N): X.XX` (goal <= 1.10).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

SIZE = 64
CLIP = 17
STEPS = 4
SEQ = 16
PROMPT = "a red kite over a field"
MOTION = "the kite climbs into the wind"


def renga_run(models: dict[str, Path], work: Path) -> float:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf
    from rich.console import Console

    from orchestrator.config import CONF_DIR
    from orchestrator.progress import Reporter
    from orchestrator.run import execute

    started = time.perf_counter()
    overrides = [
        f"keyframes.model={models['zit']}", f"video.model={models['a14b']}",
        f"keyframes.steps={STEPS}", f"keyframes.resolution={SIZE}",
        f"keyframes.max_sequence_length={SEQ}", f"video.steps={STEPS}", f"video.frames={CLIP}",
        f"video.max_sequence_length={SEQ}", "audio=none", f"cache_dir={work / 'cache'}",
    ]  # fmt: skip
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("config", overrides=overrides)
    frames = CLIP + 3 * (CLIP - 1)
    shot = {"prompt": PROMPT, "motion": MOTION, "frames": frames}
    job = {"width": SIZE, "height": SIZE, "soundtrack": None, "negative_prompt": "blurry"}
    cfg.job = OmegaConf.merge(cfg.job, {**job, "shots": [shot]})
    reporter = Reporter(Console(file=io.StringIO()))
    with reporter:
        run = execute(cfg, work / "run", reporter)
    assert run["frames"] == frames and sum(n["stage"] == "segment" for n in run["nodes"]) == 4
    return time.perf_counter() - started


def plain_run(models: dict[str, Path], work: Path) -> float:
    import numpy as np
    import torch
    from diffusers import WanImageToVideoPipeline, ZImagePipeline
    from PIL import Image

    from orchestrator import media

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
    for index in range(4):
        clip = wan(
            image=image, prompt=MOTION, negative_prompt="blurry", height=SIZE, width=SIZE,
            num_frames=CLIP, num_inference_steps=STEPS, guidance_scale=3.5,
            guidance_scale_2=3.5, max_sequence_length=SEQ, output_type="np",
            generator=torch.Generator("cpu").manual_seed(index),
        ).frames[0]  # fmt: skip
        frames = [(np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8) for f in clip]
        kept.extend(frames if index == 0 else frames[1:])
        image = Image.fromarray(frames[-1])
    media.write_video(work / "final.mp4", iter(kept), fps=Fraction(16), codec=media.h264())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import tiny_models

    with tempfile.TemporaryDirectory(prefix="renga-overhead-") as tmp:
        root = Path(tmp)
        models = {
            "zit": tiny_models.zit(root / "models" / "zit"),
            "a14b": tiny_models.wan_a14b(root / "models" / "a14b"),
        }
        times: dict[str, list[float]] = {"renga": [], "plain": []}
        cpu: dict[str, list[float]] = {"renga": [], "plain": []}
        runners = {"renga": renga_run, "plain": plain_run}
        for rep in range(args.repeats + 1):
            order = ("renga", "plain") if rep % 2 == 0 else ("plain", "renga")
            for name in order:
                work = root / f"{name}{rep}"
                work.mkdir()
                cpu_start = time.process_time()
                seconds = runners[name](models, work)
                cpu_seconds = time.process_time() - cpu_start
                if rep > 0:
                    times[name].append(seconds)
                    cpu[name].append(cpu_seconds)
                note = " (warm-up)" if rep == 0 else ""
                print(f"{name:6s} run {rep}{note}: {seconds:.2f} s wall, {cpu_seconds:.2f} s CPU")
        median = {name: statistics.median(values) for name, values in times.items()}
        median_cpu = {name: statistics.median(values) for name, values in cpu.items()}
        best = {name: min(values) for name, values in times.items()}
        print(f"median wall: renga {median['renga']:.2f} s, plain {median['plain']:.2f} s, "
              f"ratio {median['renga'] / median['plain']:.2f}")  # fmt: skip
        print(f"median CPU: renga {median_cpu['renga']:.2f} s, plain {median_cpu['plain']:.2f} s, "
              f"ratio {median_cpu['renga'] / median_cpu['plain']:.2f}")  # fmt: skip
        print(f"best wall: renga {best['renga']:.2f} s, plain {best['plain']:.2f} s")
        print(f"renga's own time per run: {best['renga'] - best['plain']:+.2f} s")
        # The best of N is what a shared, noisy machine can still measure fairly.
        print(f"ratio renga/plain wall time (best of {args.repeats}): "
              f"{best['renga'] / best['plain']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
