"""Seams, colour drift and loops, and what colour matching costs where there is nothing to fix.

Renders 10-shot chained draft jobs through the real CLI and prints the metrics renga wrote to
run.json, side by side, for `video.continuation=frame` and `motion`:

- Four scenes: `card`, the draft keyframe card with the camera zooming in (the tests' DRIFT
  job); the card with the draft backend's own gentle zoom and pan, and with no camera move;
  and `push-in`, a keyframe this script draws (a warm sun on a blue sky) that the chained zoom
  fills the frame with, so the mean colour legitimately goes from blue to orange.
- Each scene with synthetic drift (a warm cast and a brightness creep per clip) and without
  (`clean`: the same camera and seam jumps, no colour drift).
- Each colour match method at strengths 1.0, 0.75 and 0.5, against `none`.

Per run: `end dE` (renga's drift_end: the last clip's mean colour vs its anchor keyframe),
`err` (mean per-pixel CIE76 dE of the assembled frames against the same scene rendered clean
and uncorrected: the truth; `end` over the last shot), `L std` (contrast: the frames' L
spread over the truth's, 1 = kept) and the seam jump ratio. A good method takes `err` down
with drift and keeps it near 0 without. Then the crossfade and closure loop lines. Last
line: `drift ratio none/reinhard_lab: X.X`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

# The job the tests hold to the done-when numbers: the bench prints those same numbers.
from test_fidelity import DRIFT  # noqa: E402

from orchestrator.entries import VIDEO_FILE  # noqa: E402
from orchestrator.media.video import read_frames  # noqa: E402
from stages.color import to_lab  # noqa: E402

CLEAN = ("video.drift.color=0", "video.drift.brightness=0")
METHODS = ("mean_lab", "reinhard_lab", "mkl", "histogram")
STRENGTHS = (1.0, 0.75, 0.5)
SHOT_FRAMES = 25
# The draft backend's own camera (conf/video/draft.yaml), instead of DRIFT's strong zoom.
DRAFT_CAMERA = ("video.zoom=0.08", "video.pan=0.05")
# No camera move: nothing but the drift changes the colours' spread.
STATIC_CAMERA = ("video.zoom=0", "video.pan=0")


def push_in_image(path: Path, size: tuple[int, int]) -> Path:
    """A blue sky darkening upwards, a warm sun in the middle and a little grain to track."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack([40 + 60 * y / height, 80 + 70 * y / height, 150 + 60 * y / height], -1)
    radius = 0.3 * height
    r = np.hypot(x - width / 2, y - height / 2)
    sun = np.clip((radius - r) / 6 + 0.5, 0, 1)[..., None]
    disc = np.stack([250 - 0.4 * r, 160 - 1.2 * r, 40 + 0 * r], -1)
    grain = np.random.default_rng(0).normal(0, 12, (height, width, 1))
    pixels = np.clip(sky * (1 - sun) + disc * sun + grain, 0, 255).astype(np.uint8)
    Image.fromarray(pixels, "RGB").save(path)
    return path


def render(
    work: Path, size: tuple[int, int], loop: str, *args: str, image: Path | None = None
) -> tuple[dict[str, Any], Path]:
    """One run; returns the assemble node's metrics and its lossless video in the store."""
    shots: list[dict[str, Any]] = [
        {"prompt": f"shot {i}", "motion": "on", "frames": SHOT_FRAMES} for i in range(10)
    ]
    if image is not None:
        shots[0]["image"] = str(image)
    job = {
        "name": "fidelity", "width": size[0], "height": size[1], "fps": None, "style": "",
        "negative_prompt": "", "transition": "continue", "loop": loop, "soundtrack": None,
        "shots": shots,
    }  # fmt: skip
    (work / "job").mkdir(parents=True, exist_ok=True)
    (work / "job" / "fidelity.yaml").write_text(yaml.safe_dump(job))
    run_dir = work / "run"
    argv = [
        sys.executable, "-m", "orchestrator", "--config-dir", str(work), "job=fidelity",
        f"cache_dir={work / 'cache'}", f"hydra.run.dir={run_dir}", "audio=none", *DRIFT, *args,
    ]  # fmt: skip
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
    run = json.loads((run_dir / "run.json").read_text())
    node = next(n for n in run["nodes"] if n["id"] == "assemble")
    return node["metrics"], Path(run["store"]) / "assemble" / node["key"] / VIDEO_FILE


def labs(video: Path) -> list[np.ndarray]:
    """Every frame in CIELAB, every 2nd pixel each way (the colours, a quarter of the work)."""
    return [to_lab(np.ascontiguousarray(f[::2, ::2])) for f in read_frames(video)]


def against(frames: list[np.ndarray], truth: list[np.ndarray]) -> dict[str, float]:
    """Per-pixel dE to the truth (mean over all frames and over the last shot) and contrast."""
    errors = [
        float(np.linalg.norm(a - b, axis=-1).mean()) for a, b in zip(frames, truth, strict=True)
    ]
    spread = [
        float(a[..., 0].std() / max(b[..., 0].std(), 1e-3))
        for a, b in zip(frames, truth, strict=True)
    ]
    return {
        "err": float(np.mean(errors)),
        "err_end": float(np.mean(errors[-SHOT_FRAMES:])),
        "l_std": float(np.mean(spread)),
        "l_std_end": float(np.mean(spread[-SHOT_FRAMES:])),
    }


def sweep(
    work: Path,
    size: tuple[int, int],
    camera: tuple[str, ...],
    image: Path | None,
    methods: list[str],
    strengths: list[float],
) -> dict:
    """Every method and strength, with and without drift, against the clean uncorrected run."""
    none = "assemble.color_match=none"
    _, truth_video = render(work, size, "none", *camera, *CLEAN, none, image=image)
    truth = labs(truth_video)
    rows: dict[tuple[str, float], dict[str, Any]] = {}
    for method, strength in [("none", 0.0)] + [(m, s) for m in methods for s in strengths]:
        row: dict[str, Any] = {}
        for drift, extra in (("drift", ()), ("clean", CLEAN)):
            metrics, video = render(
                work, size, "none", *camera, *extra, f"assemble.color_match={method}",
                f"assemble.color_strength={strength or 1.0}", image=image,
            )  # fmt: skip
            row[drift] = metrics | against(labs(video), truth)
        rows[(method, strength)] = row
    return rows


def print_sweep(title: str, rows: dict, flush: bool = False) -> None:
    print(f"\n{title}")
    print(
        "method        str | drift: end dE  err  err end  L std  jump  motion"
        " | clean: end dE  err  err end  L std  L std end"
    )
    for (method, strength), row in rows.items():
        d, c = row["drift"], row["clean"]
        motion = d.get("seam_motion_mean", float("nan"))
        print(
            f"{method:<13} {strength:4.2f} | {d['drift_end']:11.2f} {d['err']:5.2f} "
            f"{d['err_end']:7.2f} {d['l_std']:6.3f} {d['seam_jump_mean']:5.2f} {motion:6.2f}"
            f" | {c['drift_end']:11.2f} {c['err']:5.2f} {c['err_end']:7.2f} {c['l_std']:6.3f}"
            f" {c['l_std_end']:9.3f}",
            flush=flush,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=144)
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--strengths", nargs="+", type=float, default=list(STRENGTHS))
    parser.add_argument("--scenes", nargs="+", help="only these scenes (default: all)")
    args = parser.parse_args()
    size = (args.width, args.height)
    with tempfile.TemporaryDirectory(prefix="renga-bench-fidelity-") as tmp:
        work = Path(tmp)
        image = push_in_image(work / "push_in.png", size)
        print(f"10 chained segments at {size[0]}x{size[1]}, synthetic drift: {' '.join(DRIFT[1:])}")
        scenes = {
            "card": ((), None),
            "card, draft camera": (DRAFT_CAMERA, None),
            "card, static camera": (STATIC_CAMERA, None),
            "push-in": ((), image),
        }
        everything = {}
        for continuation in ("frame", "motion"):
            for scene, (camera, picture) in scenes.items():
                if args.scenes and scene not in args.scenes:
                    continue
                mode = (f"video.continuation={continuation}", *camera)
                rows = sweep(work, size, mode, picture, args.methods, args.strengths)
                print_sweep(f"continuation={continuation}, scene={scene}", rows, flush=True)
                everything[f"{continuation}/{scene}"] = {
                    f"{m}@{s}": r for (m, s), r in rows.items()
                }
        if args.json:
            args.json.write_text(json.dumps(everything, indent=1))
        print()
        for method in ("none", "reinhard_lab"):
            m, _ = render(work, size, "none", f"assemble.color_match={method}",
                          "assemble.overlap_frames=8", "assemble.crossfade=cosine")  # fmt: skip
            print(
                f"cosine crossfade 8, color_match={method}: seam jump mean "
                f"{m['seam_jump_mean']:.2f} max {m['seam_jump_max']:.2f}"
            )
        m, _ = render(work, size, "closure", "assemble.color_match=reinhard_lab")
        print(
            f"closure loop: loop seam {m['loop_seam']:.2f} vs mean seam {m['seam_jump_mean']:.2f}"
        )
        ends = {}
        for method in ("none", "reinhard_lab", "mkl", "histogram"):
            m, _ = render(work, size, "none", f"assemble.color_match={method}")
            ends[method] = m["drift_end"]
        for method in ("mkl", "histogram"):
            print(f"drift ratio none/{method}: {ends['none'] / max(ends[method], 1e-3):.1f}")
        print(
            f"drift ratio none/reinhard_lab: {ends['none'] / max(ends['reinhard_lab'], 1e-3):.1f}"
        )


if __name__ == "__main__":
    main()
