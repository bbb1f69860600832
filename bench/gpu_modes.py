"""The long-take modes of the GPU bench: chained clips per continuation mode, through the CLI.

Each row renders one shot of `--clips` chained clips in a fresh `python -m orchestrator`
process with a store of its own, and reads run.json: seconds per segment node (the first also
loads the model, so the chained ones are the cost of a clip), the highest GPU peak of any node,
and what the assemble node measured at the seams (motion ratio and jump ratio, 1: like inside a
clip) and the colour drift against the keyframe (delta E). With random weights the pictures are
noise, so the seam and drift numbers only show that the measurement runs; times and memory are
real. There is no plain-diffusers column: no plain script does these conditions.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gpu_models
from gpu_run import ROOT, Budget, Table, cell, peak_gib, renga, save_json, segments


@dataclass(frozen=True)
class Mode:
    part: str  # what `--only` selects
    model: str  # a key of gpu_models.JOBS
    label: str  # the mode string in the table
    overrides: tuple[str, ...]


MODES = (
    Mode("continuation", "a14b", "continuation=frame", ("video.continuation=frame",)),
    Mode("continuation", "a14b", "continuation=motion", ("video.continuation=motion",)),
    Mode("continuation", "a14b", "continuation=latent", ("video.continuation=latent",)),
    Mode(
        "continuation",
        "a14b",
        "continuation=frame motion_amplitude=1.15",
        ("video.continuation=frame", "video.motion_amplitude=1.15"),
    ),
    # SVI 2.0 Pro: its LoRA pair replaced by random files of the same layout (`svi_loras`).
    Mode("svi", "a14b", "preset=svi", ("preset=svi",)),
    Mode("skyreels", "skyreels", "continuation=frame", ("video.continuation=frame",)),
    Mode("skyreels", "skyreels", "continuation=motion", ("video.continuation=motion",)),
    # TI2V-5B at real size (the presets part reuses its folder): the context frames' latents
    # replace the first ones at timestep 0.
    Mode("ti2v", "ti2v", "continuation=frame", ("video.continuation=frame",)),
    Mode("ti2v", "ti2v", "continuation=motion", ("video.continuation=motion",)),
)
PARTS = ("continuation", "svi", "skyreels", "ti2v")
SVI_PRESET = ROOT / "conf" / "preset" / "svi.yaml"
# Guesses for an H200 (from FLOPs and bytes, not measured), used to skip what would pass the
# budget until a row of the part has run: a process's ~8 s start, the load from the page cache,
# 3 clips (A14B at 4 layers: ~0.35 s a forward, 4 forwards at 2 steps with CFG, plus the VAE;
# SkyReels 1.3B: ~1.3 s a forward at 51k tokens, two windows for a chained motion clip), and
# the assemble and mux. The A14B build includes the 11 GB text encoder.
FIRST_ROW_S = {"a14b": 50.0, "skyreels": 60.0, "ti2v": 100.0}
BUILD_S = {"a14b": 45.0, "skyreels": 15.0, "ti2v": 25.0}
COLUMNS = ("mode", "s/chained clip", "clips s", "peak GiB", "seam motion", "seam jump",
           "drift end dE", "drift max dE", "process s", "at s", "status")  # fmt: skip


def run_part(part: str, args: argparse.Namespace, models: Path, work: Path, budget: Budget,
             rows: list[dict[str, Any]]) -> None:  # fmt: skip
    """Every mode of `part`, in order, each skipped when the budget cannot hold it."""
    modes = [m for m in MODES if m.part == part]
    model = modes[0].model
    layers = None
    if args.size == "real" and model != "ti2v":
        layers = args.a14b_layers if model == "a14b" else args.skyreels_layers
    spec = gpu_models.JOBS[args.size][model]
    title = (
        f"{gpu_models.LABEL[model]} ({part}): {layers_note(model, layers, args.size)}; "
        f"{spec['width']}x{spec['height']}, {spec['frames']} frames a clip, {args.steps} steps, "
        f"{args.clips} chained clips, a fresh process per row"
    )
    table = Table(title, COLUMNS)
    estimate = FIRST_ROW_S[model] if args.size == "real" else 0.0
    folder = None
    for mode in modes:
        build_s = BUILD_S[model] if folder is None and args.size == "real" else 0.0
        if not budget.allows(estimate + build_s):
            skipped = {"status": f"skipped: --budget {budget.seconds:.0f} s"}
            _report(rows, args, table, mode, skipped)
            continue
        if folder is None:
            with budget.phase(f"build {gpu_models.folder_name(model, layers)}"):
                folder = gpu_models.build(models, model, args.size, args.device, layers)
        with budget.phase(part, say=False):
            result = run_mode(mode, folder, spec, args, models, work, budget)
        result["at_s"] = budget.elapsed()
        estimate = result.get("process_s") or estimate
        _report(rows, args, table, mode, result)


def run_mode(mode: Mode, folder: Path, spec: dict[str, Any], args: argparse.Namespace,
             models: Path, work: Path, budget: Budget) -> dict[str, Any]:  # fmt: skip
    overrides = [f"video={gpu_models.VIDEO[mode.model]}", *mode.overrides,
                 f"video.model={folder}", f"video.steps={args.steps}"]  # fmt: skip
    if mode.part == "svi":
        overrides.append(svi_loras(models, args))
    where = work / mode.part / mode.label.replace(" ", "_").replace("=", "-")
    outcome = renga(where, spec, args.clips, overrides, budget.timeout())
    shutil.rmtree(where, ignore_errors=True)  # lossless clips: keep the disk for the next row
    if outcome.error:
        return {"status": f"failed: {outcome.error}", "process_s": outcome.wall}
    return summary(outcome.run, outcome.wall)


def summary(run: dict[str, Any], wall: float) -> dict[str, Any]:
    """The row's numbers from run.json."""
    seconds = [n["seconds"] for n in segments(run)]
    chained = seconds[1:]
    (assemble,) = [n for n in run["nodes"] if n["stage"] == "assemble"]
    metrics = assemble.get("metrics", {})
    return {
        "status": "ok",
        "segment_s": seconds,
        "chained_s": sum(chained) / len(chained) if chained else None,
        "peak_gib": peak_gib(run),
        "seam_motion_mean": metrics.get("seam_motion_mean"),
        "seam_jump_mean": metrics.get("seam_jump_mean"),
        "drift_end": metrics.get("drift_end"),
        "drift_max": metrics.get("drift_max"),
        "frames": run.get("frames"),
        "segment_metrics": [n.get("metrics", {}) for n in segments(run)],
        "process_s": wall,
    }


def svi_loras(models: Path, args: argparse.Namespace) -> str:
    """`video.lora_sets.svi=[...]`: the preset's LoRA pair, as random files of the bench's width."""
    import yaml

    preset = yaml.safe_load(SVI_PRESET.read_text()) or {}
    entries = ((preset.get("video") or {}).get("lora_sets") or {}).get("svi") or []
    made = gpu_models.lora_pair(models / "svi-loras", entries, args.size, args.device,
                                args.a14b_layers)  # fmt: skip
    items = ", ".join(
        f"{{path: '{e['path']}', scale: {e['scale']}, expert: {e['expert']}}}" for e in made
    )
    return f"video.lora_sets.svi=[{items}]"


def layers_note(model: str, layers: int | None, size: str) -> str:
    """What the model is, and what the missing layers would add (time and weights)."""
    if size == "tiny":
        return "tiny random model (a check of the mechanics, not a measurement)"
    config = gpu_models.sizes(size, model, layers)["transformer"]
    real = {"a14b": 40, "skyreels": 30, "ti2v": 30}[model]
    if not layers or layers == real:
        return f"real size ({real} layers)"
    width = config["num_attention_heads"] * config["attention_head_dim"]
    # Per block: self- and cross-attention (4 d x d each) and the feed-forward (2 d x ffn).
    per_layer_gib = (8 * width * width + 2 * width * config["ffn_dim"]) * 2 / 2**30
    missing = (real - layers) * per_layer_gib
    return (
        f"real width {width}, {layers} of {real} layers per transformer: per-step transformer "
        f"time scales with the layers (x{real / layers:.1f} for the real model), and the real "
        f"model holds {missing:.1f} GiB more bf16 weights per transformer"
    )


def _report(rows: list[dict[str, Any]], args: argparse.Namespace, table: Table, mode: Mode,
            result: dict[str, Any]) -> None:  # fmt: skip
    row = {"part": mode.part, "model": mode.model, "mode": mode.label, **result}
    rows.append(row)
    save_json(args.json, rows)
    clips = " / ".join(f"{s:.1f}" for s in row.get("segment_s", []))
    values = (mode.label, cell(row.get("chained_s"), 1), clips or "-", cell(row.get("peak_gib")),
              cell(row.get("seam_motion_mean")), cell(row.get("seam_jump_mean")),
              cell(row.get("drift_end")), cell(row.get("drift_max")),
              cell(row.get("process_s"), 1), cell(row.get("at_s"), 0),
              cell(row["status"]))  # fmt: skip
    table.row(values)
