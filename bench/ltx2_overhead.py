"""renga's overhead over a plain diffusers script for `video=ltx2`, on the same tiny model.

Job: one given keyframe (`keyframes=images`) and N chained LTX-2 clips (tiny random
LTX2ConditionPipeline built in-process, 64x64, 17-frame clips, 4 steps, CFG 4) with their own
sound (`audio=native`). renga runs it through the real engine (compose, plan, graph, store,
executor, the stitched sound, mux); the reference script loads the pipeline, chains N clips
from each clip's last frame, joins their sound end to end and writes an MP4 with audio
(diffusers' `encode_video`, as LTX-2's own examples do). `--two-stage` runs both the same
way in two stages (`preset=ltx2_two_stage`: 32x32, the latent upsampler, 3 refining steps at
64x64 with a distilled-style LoRA; the script as diffusers' "Two-stages Generation" shows it).

Each run is a fresh process, as a user runs it, alternating, after one warm-up each; ratios are
of the best wall time of `--repeats` runs. Last line: `ratio renga/plain wall time (...): X.XX`
(goal <= 1.10).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

from overhead import timed_process

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

SIZE = 64
CLIP = 17
STEPS = 4
SEQ = 16
FPS = 24
MOTION = "the kite climbs into the wind"
LORA = "ltx-2-19b-distilled-lora-384.safetensors"
STAGE_2 = [0.909375, 0.725, 0.421875]
UNGUIDED = {
    "guidance_scale": 1.0, "stg_scale": 0.0, "modality_scale": 1.0, "guidance_rescale": 0.0,
    "audio_guidance_scale": 1.0, "audio_stg_scale": 0.0, "audio_modality_scale": 1.0,
    "audio_guidance_rescale": 0.0,
}  # fmt: skip


class TwoStages:
    """diffusers' "Two-stages Generation" for one clip: half size to latents, upsample, then
    the LoRA on and the sigmas as they are for the refining call."""

    def __init__(self, pipe: Any, model: Path) -> None:
        from diffusers import FlowMatchEulerDiscreteScheduler
        from diffusers.pipelines.ltx2 import LTX2LatentUpsamplePipeline
        from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

        upsampler = LTX2LatentUpsamplerModel.from_pretrained(model, subfolder="latent_upsampler")
        self.pipe = pipe
        self.upsample = LTX2LatentUpsamplePipeline(vae=pipe.vae, latent_upsampler=upsampler)
        pipe.load_lora_weights(str(model / LORA), adapter_name="stage_2_distilled")
        self.first_scheduler = pipe.scheduler
        self.second_scheduler = FlowMatchEulerDiscreteScheduler.from_config(
            pipe.scheduler.config, use_dynamic_shifting=False, shift_terminal=None
        )

    def __call__(self, **args: Any) -> Any:
        pipe = self.pipe
        pipe.disable_lora()
        pipe.scheduler = self.first_scheduler
        small = args | {"height": SIZE // 2, "width": SIZE // 2, "output_type": "latent"}
        video, audio = pipe(**small, return_dict=False)
        latents = self.upsample(latents=video, output_type="latent", return_dict=False)[0]
        pipe.enable_lora()
        pipe.set_adapters("stage_2_distilled", 1.0)
        pipe.scheduler = self.second_scheduler
        refine = args | UNGUIDED | {"num_inference_steps": 3, "sigmas": STAGE_2}
        return pipe(**refine, latents=latents, audio_latents=audio, noise_scale=STAGE_2[0])


def plain_run(model: Path, image: Path, work: Path, segments: int, two_stage: bool) -> None:
    import numpy as np
    import torch
    from diffusers import LTX2ConditionPipeline
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
    from diffusers.utils.export_utils import encode_video
    from PIL import Image

    pipe = LTX2ConditionPipeline.from_pretrained(model, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    call = TwoStages(pipe, model) if two_stage else pipe
    start = Image.open(image).convert("RGB")
    kept: list[np.ndarray] = []
    sound: list[Any] = []
    for index in range(segments):
        output = call(
            conditions=[LTX2VideoCondition(frames=start, index=0)], prompt=MOTION,
            negative_prompt="blurry", height=SIZE, width=SIZE, num_frames=CLIP,
            frame_rate=float(FPS), num_inference_steps=STEPS, guidance_scale=4.0,
            stg_scale=0.0, modality_scale=1.0, guidance_rescale=0.0,
            audio_guidance_scale=None, audio_stg_scale=None, audio_modality_scale=None,
            audio_guidance_rescale=None, use_cross_timestep=False, max_sequence_length=SEQ,
            generator=torch.Generator("cpu").manual_seed(index), output_type="np",
        )  # fmt: skip
        frames = [(np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8) for f in output.frames[0]]
        kept.extend(frames if index == 0 else frames[1:])
        sound.append(output.audio[0].float())
        start = Image.fromarray(frames[-1])
    video = torch.from_numpy(np.stack(kept))
    rate = pipe.vocoder.config.output_sampling_rate
    encode_video(video, FPS, str(work / "final.mp4"), torch.cat(sound, dim=1), rate)


def _job(image: Path, segments: int) -> dict[str, Any]:
    frames = CLIP + (segments - 1) * (CLIP - 1)
    shot = {"prompt": "a red kite", "motion": MOTION, "frames": frames, "image": str(image)}
    return {"name": "overhead", "fps": None, "style": "", "transition": "cut", "loop": "none",
            "width": SIZE, "height": SIZE, "soundtrack": None, "negative_prompt": "blurry",
            "shots": [shot]}  # fmt: skip


def renga_process(model: Path, image: Path, work: Path, segments: int, two_stage: bool) -> float:
    import yaml

    jobs = work / "conf" / "job"
    jobs.mkdir(parents=True)
    (jobs / "overhead.yaml").write_text(yaml.safe_dump(_job(image, segments), sort_keys=False))
    argv = [sys.executable, "-m", "orchestrator", "--config-dir", str(work / "conf"),
            "job=overhead", "keyframes=images", "video=ltx2", f"video.model={model}",
            f"video.steps={STEPS}", f"video.frames={CLIP}", f"video.max_sequence_length={SEQ}",
            "audio=native", "assemble.color_match=none", f"cache_dir={work / 'cache'}",
            f"hydra.run.dir={work / 'run'}"]  # fmt: skip
    argv += ["preset=ltx2_two_stage"] if two_stage else []
    seconds = timed_process(argv)
    run = json.loads((work / "run" / "run.json").read_text())
    assert sum(n["stage"] == "segment" for n in run["nodes"]) == segments
    return seconds


def plain_process(model: Path, image: Path, work: Path, segments: int, two_stage: bool) -> float:
    argv = [sys.executable, __file__, "--plain", str(model), str(image), str(work),
            "--segments", str(segments)]  # fmt: skip
    argv += ["--two-stage"] if two_stage else []
    return timed_process(argv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--plain", nargs=3, metavar=("MODEL", "IMAGE", "WORK"),
                        help="run only the plain script (the child process)")  # fmt: skip
    parser.add_argument("--two-stage", action="store_true", help="preset=ltx2_two_stage")
    args = parser.parse_args()
    if args.plain:
        model, image, work = map(Path, args.plain)
        plain_run(model, image, work, args.segments, args.two_stage)
        return

    import numpy as np
    import tiny_ltx2
    from PIL import Image

    runners = {"renga": renga_process, "plain": plain_process}
    with tempfile.TemporaryDirectory(prefix="renga-ltx2-overhead-") as tmp:
        root = Path(tmp)
        model = tiny_ltx2.ltx2(root / "models" / "ltx2")
        if args.two_stage:
            from diffusers import LTX2ConditionPipeline

            tiny_ltx2.latent_upsampler(model / "latent_upsampler")
            transformer = LTX2ConditionPipeline.from_pretrained(model).transformer
            tiny_ltx2.lightricks_lora(model / LORA, transformer, seed=5)
        image = root / "keyframe.png"
        pixels = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(image)
        best = {"renga": math.inf, "plain": math.inf}
        for rep in range(args.repeats + 1):
            order = ("renga", "plain") if rep % 2 == 0 else ("plain", "renga")
            for name in order:
                work = root / f"{name}{rep}"
                work.mkdir()
                seconds = runners[name](model, image, work, args.segments, args.two_stage)
                note = " (warm-up)" if rep == 0 else ""
                print(f"{args.segments} clips {name:5s} run {rep}{note}: {seconds:.2f} s")
                if rep > 0:
                    best[name] = min(best[name], seconds)
        kind = "two-stage " if args.two_stage else ""
        print(f"fresh processes, {args.segments} {kind}clips: renga {best['renga']:.2f} s, plain "
              f"{best['plain']:.2f} s")  # fmt: skip
        print(f"ratio renga/plain wall time (fresh processes, best of {args.repeats}): "
              f"{best['renga'] / best['plain']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
