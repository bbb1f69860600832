"""Wan 2.2 TI2V-5B at real size with random weights: renga vs a plain diffusers script, per preset.

Needs a CUDA GPU for real numbers. Builds the real-size transformer (30 layers, width 3072), the
Wan 2.2 VAE and a UMT5-XXL-shaped text encoder (with the vocabulary of a tokenizer trained in
process) with random weights, saves them once as a diffusers folder (`--models`, reused when it
exists), then for each memory setting renders two chained 121-frame segments at 1280x704 with
`--steps` steps, through `python -m orchestrator` and through a plain script that makes the same
diffusers calls, each in a fresh process. Prints seconds per segment (the second one: renga's
first segment node also loads the model), peak GPU memory and each process's wall time, side
by side, as a markdown table.

`--size tiny` runs the same mechanics on tiny models (on the CPU when there is no GPU): a check
of this script, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from orchestrator.media.encode import h264, write_video

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

PROMPT = "a red kite over a field"
MOTION = "the kite climbs into the wind"
SEGMENTS = 2

SIZES: dict[str, dict[str, Any]] = {
    "real": {
        "transformer": {
            "patch_size": (1, 2, 2), "num_attention_heads": 24, "attention_head_dim": 128,
            "in_channels": 48, "out_channels": 48, "text_dim": 4096, "freq_dim": 256,
            "ffn_dim": 14336, "num_layers": 30, "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads", "eps": 1e-6,
        },
        "vae": {"base_dim": 160, "decoder_base_dim": 256, "dim_mult": [1, 2, 4, 4],
                "num_res_blocks": 2},
        "text": {"d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64,
                 "relative_attention_num_buckets": 32},
        "width": 1280, "height": 704, "frames": 121,
    },
    "tiny": {
        "transformer": {
            "patch_size": (1, 2, 2), "num_attention_heads": 2, "attention_head_dim": 12,
            "in_channels": 48, "out_channels": 48, "text_dim": 32, "freq_dim": 256,
            "ffn_dim": 32, "num_layers": 2, "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads", "rope_max_seq_len": 32,
        },
        "vae": {"base_dim": 3, "dim_mult": [1, 1, 1, 1], "num_res_blocks": 1},
        "text": {"d_model": 32, "d_kv": 8, "d_ff": 37, "num_layers": 2, "num_heads": 4,
                 "relative_attention_num_buckets": 8},
        "width": 64, "height": 32, "frames": 9,
    },
}  # fmt: skip

# Memory settings as renga overrides, and what the plain script does for each.
SETTINGS: dict[str, list[str]] = {
    "default": [],
    "fp8": ["video.fp8=true"],
    "vae_tiling": ["video.vae_tiling=true"],
    "group_offload": ["video.offload=group"],
    "model_offload": ["video.offload=model"],
    "low_vram": ["preset=low_vram"],
}
NEEDS_GPU = ("model_offload",)


def build_models(path: Path, size: str, device: str) -> Path:
    """A TI2V-5B-shaped diffusers folder with random weights (seeded), saved in bf16."""
    import tiny_models
    import torch
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanImageToVideoPipeline,
        WanTransformer3DModel,
    )
    from diffusers.utils import logging
    from transformers import UMT5Config, UMT5EncoderModel

    logging.set_verbosity_error()  # casting random weights to bf16 is what is wanted here
    spec = SIZES[size]
    tokenizer = tiny_models.t5_tokenizer()
    torch.manual_seed(0)
    with torch.device(device):
        transformer = WanTransformer3DModel(**spec["transformer"])
        text_encoder = UMT5EncoderModel(
            UMT5Config(
                vocab_size=len(tokenizer),
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                **spec["text"],
            )  # fmt: skip
        ).eval()
        vae = AutoencoderKLWan(
            z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2,
            latents_mean=[0.0] * 48, latents_std=[1.0] * 48, scale_factor_spatial=16,
            scale_factor_temporal=4, temperal_downsample=[False, True, True], **spec["vae"],
        )  # fmt: skip
    pipe = WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0
        ),
        image_processor=None,
        image_encoder=None,
        transformer=transformer,
        transformer_2=None,
        boundary_ratio=None,
        expand_timesteps=True,
    )
    dtype = torch.bfloat16 if size == "real" else torch.float32
    pipe.to(dtype=dtype)
    pipe.save_pretrained(path)
    return path


def start_image(path: Path, width: int, height: int) -> Path:
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], -1)
    Image.fromarray(rgb.astype(np.uint8)).save(path)
    return path


def renga_run(models: Path, work: Path, setting: str, args: argparse.Namespace) -> dict[str, Any]:
    import yaml

    spec = SIZES[args.size]
    jobs = work / "conf" / "job"
    jobs.mkdir(parents=True)
    image = start_image(work / "start.png", spec["width"], spec["height"])
    shot = {"image": str(image), "prompt": PROMPT, "motion": MOTION,
            "frames": spec["frames"] + (SEGMENTS - 1) * (spec["frames"] - 1)}  # fmt: skip
    job = {"name": "gpu", "width": spec["width"], "height": spec["height"], "fps": None,
           "style": "", "negative_prompt": "blurry", "transition": "cut", "loop": "none",
           "soundtrack": None, "shots": [shot]}  # fmt: skip
    (jobs / "gpu.yaml").write_text(yaml.safe_dump(job, sort_keys=False))
    argv = [
        sys.executable, "-m", "orchestrator", "--config-dir", str(work / "conf"), "job=gpu",
        "keyframes=images", "video=wan22_ti2v_5b", f"video.model={models}",
        f"video.steps={args.steps}", f"video.frames={spec['frames']}", "audio=none",
        f"cache_dir={work / 'cache'}", f"hydra.run.dir={work / 'run'}", *SETTINGS[setting],
    ]  # fmt: skip
    wall = _timed(argv)
    run = json.loads((work / "run" / "run.json").read_text())
    segments = [n for n in run["nodes"] if n["stage"] == "segment"]
    assert len(segments) == SEGMENTS, segments
    peaks = [n.get("metrics", {}).get("peak_vram_gib") for n in run["nodes"]]
    return {
        "wall": wall,
        "segment": segments[-1]["seconds"],
        "peak_gib": max((p for p in peaks if p is not None), default=None),
    }


def plain_run(models: Path, work: Path, setting: str, args: argparse.Namespace) -> dict[str, Any]:
    out = work / "plain.json"
    argv = [sys.executable, __file__, "--plain", str(models), str(work), setting,
            "--size", args.size, "--steps", str(args.steps)]  # fmt: skip
    wall = _timed(argv)
    return {"wall": wall, **json.loads(out.read_text())}


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{' '.join(argv[:6])} ... failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def plain_child(models: Path, work: Path, setting: str, size: str, steps: int) -> None:
    """The reference: the diffusers calls renga's settings stand for, written out by hand."""
    import numpy as np
    import torch
    from diffusers import WanImageToVideoPipeline
    from PIL import Image

    spec = SIZES[size]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    pipe = WanImageToVideoPipeline.from_pretrained(models, dtype=dtype, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    overrides = SETTINGS[setting]
    if "video.fp8=true" in overrides or "preset=low_vram" in overrides:
        pipe.transformer.enable_layerwise_casting(
            storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype
        )
    if "video.vae_tiling=true" in overrides or "preset=low_vram" in overrides:
        pipe.vae.enable_tiling()
    if "video.offload=group" in overrides or "preset=low_vram" in overrides:
        pipe.enable_group_offload(
            onload_device=torch.device(device), offload_device=torch.device("cpu"),
            offload_type="block_level", num_blocks_per_group=1, use_stream=device == "cuda",
        )  # fmt: skip
    elif "video.offload=model" in overrides:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    image = Image.open(start_image(work / "start.png", spec["width"], spec["height"]))
    kept: list[np.ndarray] = []
    seconds: list[float] = []
    for index in range(SEGMENTS):
        began = time.perf_counter()
        clip = pipe(
            image=image, prompt=MOTION, negative_prompt="blurry", height=spec["height"],
            width=spec["width"], num_frames=spec["frames"], num_inference_steps=steps,
            guidance_scale=5.0, output_type="np",
            generator=torch.Generator("cpu").manual_seed(index),
        ).frames[0]  # fmt: skip
        frames = [(np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8) for f in clip]
        kept.extend(frames if index == 0 else frames[1:])
        image = Image.fromarray(frames[-1])
        seconds.append(time.perf_counter() - began)
    write_video(work / "final.mp4", iter(kept), fps=Fraction(24), codec=h264())
    peak = round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None
    result = {"segment": seconds[-1], "peak_gib": peak}
    (work / "plain.json").write_text(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="real")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"comma-separated, of: {', '.join(SETTINGS)}")  # fmt: skip
    parser.add_argument("--models", type=Path, help="the random-weight folder (built if absent)")
    parser.add_argument("--plain", nargs=3, metavar=("MODELS", "WORK", "SETTING"))
    args = parser.parse_args()
    if args.plain:
        models, work, setting = args.plain
        plain_child(Path(models), Path(work), setting, args.size, args.steps)
        return

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and args.size == "real":
        raise SystemExit("--size real needs a CUDA GPU; use --size tiny to check the script")
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    settings = [s for s in args.settings.split(",") if device == "cuda" or s not in NEEDS_GPU]
    with tempfile.TemporaryDirectory(prefix="renga-gpu-") as tmp:
        root = Path(tmp)
        models = args.models or root / "models"
        if not (models / "model_index.json").exists():
            began = time.perf_counter()
            build_models(models, args.size, device)
            print(f"built {args.size} TI2V-5B-shaped models in {time.perf_counter() - began:.0f} s")
        spec = SIZES[args.size]
        print(f"device: {name}; {spec['width']}x{spec['height']}, {spec['frames']} frames, "
              f"{args.steps} steps, {SEGMENTS} chained segments, "
              "a fresh process per run")  # fmt: skip
        print("| setting | renga s/segment | plain s/segment | ratio | renga peak GiB | "
              "plain peak GiB | renga process s | plain process s |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for setting in settings:
            work = root / setting
            (work / "renga").mkdir(parents=True)
            (work / "plain").mkdir()
            ours = renga_run(models, work / "renga", setting, args)
            plain = plain_run(models, work / "plain", setting, args)
            print(f"| {setting} | {ours['segment']:.1f} | {plain['segment']:.1f} | "
                  f"{ours['segment'] / plain['segment']:.2f} | {ours['peak_gib']} | "
                  f"{plain['peak_gib']} | {ours['wall']:.1f} | {plain['wall']:.1f} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
