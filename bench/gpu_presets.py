"""Real-size random-weight models on a GPU: renga's long-take modes and memory presets.

Needs a CUDA GPU for real numbers. Builds random-weight diffusers folders at the real models'
widths (bench/gpu_models.py: what is real and what is cut) once (`--models`, reused when there),
then runs, in priority order, each row in a fresh process:
- `continuation`: Wan 2.2 I2V A14B (both experts, real width, `--a14b-layers` of 40 layers),
  3 chained 81-frame clips at 832x480 per `video.continuation=frame|motion|latent`, and with
  `video.motion_amplitude=1.15`: seconds per chained clip, peak GPU memory, the seam and drift
  metrics of run.json (bench/gpu_modes.py);
- `svi`: `preset=svi` on the same model, once conf/preset/svi.yaml exists (a marked slot);
- `skyreels`: SkyReels-V2 DF 1.3B at real size, 97-frame clips at 960x544, continuation
  frame|motion (the V2V history);
- `presets`: Wan 2.2 TI2V-5B at real size, two chained 121-frame segments at 1280x704 per
  memory setting, through renga and through a plain script that makes the same diffusers
  calls: seconds per segment (the second: renga's first segment node also loads the model),
  peak GPU memory and process wall time, side by side.
Each part prints a markdown table as its rows finish, and `phase` lines with the elapsed time.
Rows that would pass `--budget` (default 420 s at real size) are skipped and say so; `--only`
picks parts for a short rerun.

`--size tiny` runs every row on tiny models (on the CPU when there is no GPU): a check of this
script, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gpu_models
import gpu_modes
from gpu_run import (
    MOTION,
    ROOT,
    Budget,
    Outcome,
    Table,
    cell,
    peak_gib,
    renga,
    run_process,
    save_json,
    segments,
    start_image,
)

sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

SEGMENTS = 2
PARTS = (*gpu_modes.PARTS, "presets")
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
PRESET_ROW_S = 100.0  # a guess for an H200 (both processes), until a setting has run
PRESET_BUILD_S = 25.0
COLUMNS = ("setting", "renga s/segment", "plain s/segment", "ratio", "renga peak GiB",
           "plain peak GiB", "renga process s", "plain process s", "at s", "status")  # fmt: skip


def run_presets(args: argparse.Namespace, models: Path, work: Path, budget: Budget,
                rows: list[dict[str, Any]]) -> None:  # fmt: skip
    spec = gpu_models.JOBS[args.size]["ti2v"]
    settings = [s for s in args.settings.split(",") if args.device == "cuda" or s not in NEEDS_GPU]
    title = (
        f"Wan 2.2 TI2V-5B (presets): {spec['width']}x{spec['height']}, {spec['frames']} frames, "
        f"{args.steps} steps, {SEGMENTS} chained segments, a fresh process per run"
    )
    table = Table(title, COLUMNS)
    estimate = PRESET_ROW_S if args.size == "real" else 0.0
    folder = None
    for setting in settings:
        build_s = PRESET_BUILD_S if folder is None and args.size == "real" else 0.0
        if not budget.allows(estimate + build_s):
            skipped = f"skipped: --budget {budget.seconds:.0f} s"
            _preset_row(rows, args, table, budget, setting, None, None, skipped)
            continue
        if folder is None:
            with budget.phase("build ti2v"):
                folder = gpu_models.build(models, "ti2v", args.size, args.device)
        with budget.phase("presets", say=False):
            where = work / "presets" / setting
            ours = renga(where / "renga", spec, SEGMENTS,
                         ["video=wan22_ti2v_5b", f"video.model={folder}",
                          f"video.steps={args.steps}", *SETTINGS[setting]],
                         budget.timeout())  # fmt: skip
            plain = plain_run(folder, where / "plain", setting, args, budget.timeout())
            shutil.rmtree(where, ignore_errors=True)  # lossless clips: keep the disk free
        estimate = ours.wall + plain.wall
        error = ours.error or plain.error
        status = f"failed: {error}" if error else "ok"
        _preset_row(rows, args, table, budget, setting, ours, plain, status)


def _preset_row(rows: list[dict[str, Any]], args: argparse.Namespace, table: Table,
                budget: Budget, setting: str, ours: Outcome | None, plain: Outcome | None,
                status: str) -> None:  # fmt: skip
    mine = segments(ours.run)[-1]["seconds"] if ours and ours.run else None
    theirs = plain.run.get("segment") if plain else None
    row = {"part": "presets", "model": "ti2v", "mode": setting, "status": status,
           "renga_segment_s": mine, "plain_segment_s": theirs,
           "renga_peak_gib": peak_gib(ours.run) if ours else None,
           "plain_peak_gib": plain.run.get("peak_gib") if plain else None,
           "renga_process_s": ours.wall if ours else None,
           "plain_process_s": plain.wall if plain else None,
           "at_s": budget.elapsed() if ours else None}  # fmt: skip
    rows.append(row)
    save_json(args.json, rows)
    ratio = mine / theirs if mine and theirs else None
    values = (setting, cell(mine, 1), cell(theirs, 1), cell(ratio), cell(row["renga_peak_gib"]),
              cell(row["plain_peak_gib"]), cell(row["renga_process_s"], 1),
              cell(row["plain_process_s"], 1), cell(row["at_s"], 0), cell(status))  # fmt: skip
    table.row(values)


def plain_run(models: Path, work: Path, setting: str, args: argparse.Namespace,
              timeout: float | None) -> Outcome:  # fmt: skip
    work.mkdir(parents=True)
    argv = [sys.executable, __file__, "--plain", str(models), str(work), setting,
            "--size", args.size, "--steps", str(args.steps)]  # fmt: skip
    wall, error = run_process(argv, timeout)
    if error:
        return Outcome(wall, error)
    return Outcome(wall, run=json.loads((work / "plain.json").read_text()))


def plain_child(models: Path, work: Path, setting: str, size: str, steps: int) -> None:
    """The reference: the diffusers calls renga's settings stand for, written out by hand."""
    from fractions import Fraction

    import numpy as np
    import torch
    from diffusers import WanImageToVideoPipeline
    from PIL import Image

    from orchestrator.media.encode import h264, write_video

    spec = gpu_models.JOBS[size]["ti2v"]
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


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=gpu_models.JOBS, default="real")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts, in this order: {', '.join(PARTS)}",
    )
    parser.add_argument(
        "--settings",
        default=",".join(SETTINGS),
        help=f"presets: comma-separated, of: {', '.join(SETTINGS)}",
    )
    parser.add_argument("--clips", type=int, default=3, help="chained clips per mode row")
    parser.add_argument("--a14b-layers", type=int, default=4, help="per expert (real: 40)")
    parser.add_argument("--skyreels-layers", type=int, default=30, help="(real: 30)")
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds for the whole run, builds included; rows that would "
        "pass it are skipped (default 420 at real size, none for tiny; "
        "0: none)",
    )
    parser.add_argument(
        "--models", type=Path, help="folder for the random-weight models (built where absent)"
    )
    parser.add_argument("--json", type=Path, help="also write every row here, as they finish")
    parser.add_argument("--plain", nargs=3, metavar=("MODELS", "WORK", "SETTING"))
    args = parser.parse_args()  # fmt: skip
    unknown = set(args.only.split(",")) - set(PARTS)
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}; parts: {', '.join(PARTS)}")
    if args.budget is None:
        args.budget = 420.0 if args.size == "real" else 0.0
    return args


def main() -> None:
    args = parse()
    if args.plain:
        models, work, setting = args.plain
        plain_child(Path(models), Path(work), setting, args.size, args.steps)
        return

    import torch

    args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cpu" and args.size == "real":
        raise SystemExit("--size real needs a CUDA GPU; use --size tiny to check the script")
    budget = Budget(args.budget)
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(
        f"device: {name}; size {args.size}; budget "
        f"{f'{args.budget:.0f} s' if args.budget else 'none'}; parts {args.only}",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    chosen = args.only.split(",")
    with tempfile.TemporaryDirectory(prefix="renga-gpu-") as tmp:
        models = (args.models or Path(tmp) / "models").resolve()
        for part in (p for p in PARTS if p in chosen):
            if part == "presets":
                run_presets(args, models, Path(tmp), budget, rows)
            else:
                gpu_modes.run_part(part, args, models, Path(tmp), budget, rows)
    failed = [r["mode"] for r in rows if r["status"].startswith("failed")]
    print(f"\n{budget.summary()}")
    print(
        f"rows: {len(rows)}, ok {sum(r['status'] == 'ok' for r in rows)}, failed "
        f"{len(failed)}{': ' + ', '.join(failed) if failed else ''}",
        flush=True,
    )


if __name__ == "__main__":
    main()
