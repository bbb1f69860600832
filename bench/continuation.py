"""Motion across seams: chained draft clips started from one frame vs from five frames of context.

One long take (one shot, several clips) is planned with the real planner; each clip is made by
the draft video backend called directly, from the previous clip's frame the plan names, either
alone (`frame`: the camera restarts, as a video model fed one still does) or with the four
frames before it (`motion`: the backend estimates the camera's motion from them and carries it
on). The clips go through the real assembler, which measures each join's motion ratio (1: the
motion carries on as inside a clip; large: it resets). Last line:
`ratio seam motion frame/motion: X.XX` (target: at least 3).

`--cli` renders the same long take through the real CLI and render path instead
(`python -m orchestrator preset=draft video.continuation=frame|motion`), reading each join's
ratio from run.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONTEXT_FRAMES = 5


def plan(clips: int, width: int, height: int, frames: int) -> Any:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from orchestrator.config import CONF_DIR  # registers the config schemas
    from orchestrator.plan.job import plan_job
    from stages.video.draft import DraftVideo

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("config", overrides=["preset=draft"])
    seconds = clips * (frames - 1) / 16
    shot = {"prompt": "a lighthouse on a cliff at dusk", "motion": "the camera drifts"}
    cfg.job = OmegaConf.merge(
        cfg.job,
        {"width": width, "height": height, "fps": None, "transition": "continue"},
        {"loop": "none", "soundtrack": None, "shots": [{**shot, "seconds": seconds}]},
    )
    return plan_job(cfg, DraftVideo(frames=frames))


def render(timeline: Any, mode: str, work: Path, zoom: float, pan: float) -> dict[str, Any]:
    """Clips for every segment, chained in `mode`, assembled; the assemble metrics."""
    import numpy as np

    from orchestrator.engine.context import NodeContext
    from orchestrator.media.encode import LOSSLESS, write_video
    from orchestrator.media.images import save_png
    from orchestrator.media.video import read_frames
    from orchestrator.stage import KeyframeRequest, SegmentRequest
    from stages.assemble import Assembler
    from stages.diffusion.pool import ModelPool
    from stages.keyframes.draft import DraftKeyframes
    from stages.video.draft import DraftVideo

    ctx = NodeContext(mode, work, {}, ModelPool())
    w, h = timeline.width, timeline.height
    card = DraftKeyframes().render(KeyframeRequest(0, 1, "a lighthouse", "", w, h, 7), None, ctx)
    keyframe = work / "keyframe.png"
    save_png(keyframe, card)
    backend = DraftVideo(frames=timeline.segments[0].num_frames, zoom=zoom, pan=pan)
    clips: list[Path] = []
    for segment in timeline.segments:
        context = None
        if segment.start_segment is None:
            start = np.asarray(card)
        else:
            before = clips[segment.start_segment]
            first = max(segment.start_frame + 1 - CONTEXT_FRAMES, 0)
            frames = list(read_frames(before, first, segment.start_frame + 1))
            start = frames[-1]
            context = frames if mode == "motion" else None
        request = SegmentRequest(0, segment.index, "p", "", w, h, segment.num_frames,
                                 timeline.fps, 1000 + segment.index)  # fmt: skip
        path = work / f"{mode}-{segment.index}.mkv"
        made = backend.generate(request, start, None, ctx, context=context)
        write_video(path, made, fps=timeline.fps, codec=LOSSLESS)
        clips.append(path)
    began = time.perf_counter()
    Assembler().run(clips, timeline, work / f"{mode}.mkv", ctx, {0: keyframe})
    ctx.metrics["assemble_seconds"] = time.perf_counter() - began
    return ctx.metrics


def render_cli(mode: str, work: Path, args: argparse.Namespace, color: str) -> dict[str, Any]:
    """The long take through `python -m orchestrator`; the assemble node's metrics."""
    import yaml

    seconds = args.clips * (args.frames - 1) / 16
    job = {
        "width": args.width, "height": args.height, "fps": None, "transition": "continue",
        "loop": "none", "soundtrack": None,
        "shots": [{"prompt": "a lighthouse on a cliff at dusk", "motion": "the camera drifts",
                   "seconds": seconds}],
    }  # fmt: skip
    (work / "job").mkdir(parents=True, exist_ok=True)
    (work / "job" / "bench.yaml").write_text("# @package job\n" + yaml.safe_dump(job))
    run_dir = work / f"run-{mode}-{color}"
    argv = [
        sys.executable, "-m", "orchestrator", "--config-dir", str(work), "job=bench",
        "preset=draft", "audio=none", f"video.frames={args.frames}", f"video.zoom={args.zoom}",
        f"video.pan={args.pan}", f"video.continuation={mode}", f"cache_dir={work / 'cache'}",
        f"hydra.run.dir={run_dir}", f"assemble.color_match={color}",
    ]  # fmt: skip
    began = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
    run = json.loads((run_dir / "run.json").read_text())
    (assemble,) = [n for n in run["nodes"] if n["stage"] == "assemble"]
    metrics = dict(assemble["metrics"])
    metrics["assemble_seconds"] = time.perf_counter() - began  # the whole render, here
    print(f"{mode:<6} color_match={color}: {run['frames']} frames (planned {round(seconds * 16)})")
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--frames", type=int, default=81, help="frames per clip (4k+1)")
    parser.add_argument("--zoom", type=float, default=0.08, help="draft zoom per clip")
    parser.add_argument("--pan", type=float, default=0.05, help="draft pan per clip")
    parser.add_argument("--cli", action="store_true", help="render through the real CLI")
    args = parser.parse_args()
    timeline = plan(args.clips, args.width, args.height, args.frames)
    print(f"{len(timeline.segments)} chained draft clips of {args.frames} frames at "
          f"{args.width}x{args.height}, zoom {args.zoom} pan {args.pan} per clip")  # fmt: skip
    means: dict[tuple[str, str], float] = {}
    # Through the CLI also without colour matching (on by default for frame and motion): its ramp
    # over each clip doubles the velocity change the tracker reads inside the clips (0.010 ->
    # 0.016-0.023 px/frame on this take; the seams' own figures do not move), so the ratios read
    # lower with it.
    colors = ("auto", "none") if args.cli else ("none",)
    with tempfile.TemporaryDirectory(prefix="renga-bench-continuation-") as tmp:
        for color, mode in ((c, m) for c in colors for m in ("frame", "motion")):
            if args.cli:
                metrics = render_cli(mode, Path(tmp), args, color)
            else:
                metrics = render(timeline, mode, Path(tmp), args.zoom, args.pan)
            ratios = [s["motion"] for s in metrics["seams"] if s["motion"] is not None]
            means[mode, color] = statistics.mean(ratios)
            took = metrics["assemble_seconds"]
            print(f"{mode:<6} motion ratio per join {' '.join(f'{r:.2f}' for r in ratios)}  "
                  f"mean {means[mode, color]:.2f}  (jump ratio mean "
                  f"{metrics['seam_jump_mean']:.2f}; assemble {took:.1f} s)")  # fmt: skip
    print("target: the motion ratio at least 3x better (lower) with 5 frames of context")
    for color in colors[1:]:
        ratio = means["frame", color] / means["motion", color]
        print(f"ratio seam motion frame/motion, color_match={color}: {ratio:.2f}")
    color = colors[0]
    print(f"ratio seam motion frame/motion: {means['frame', color] / means['motion', color]:.2f}")


if __name__ == "__main__":
    main()
