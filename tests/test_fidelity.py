"""The issue's done-when numbers, end to end through the CLI on a 10-segment draft job with
synthetic drift: drift correction, crossfaded seams, closure loops, corrected chained starts and
interpolated output timing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Cli, ok, tiny_job

from orchestrator.media.video import read_frame
from stages.assemble import AUTO_METHOD
from stages.metrics import delta_e, mean_lab

# 33-frame clips and 25-frame shots: with 8 shared frames every shot is exactly one clip.
DRIFT = (
    "preset=draft",
    "video.frames=33",
    "video.zoom=0.3",
    "video.pan=0",
    "video.drift.color=0.05",
    "video.drift.brightness=0.03",
    "video.drift.jump=0.01",
)


def drift_job(loop: str = "none") -> dict[str, Any]:
    shots = [{"prompt": f"shot {i}", "motion": "on we go", "frames": 25} for i in range(10)]
    return tiny_job(transition="continue", loop=loop, shots=shots)


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory):
    """Runs share one store, so common nodes (the keyframe, the first clip) render once."""
    cli = Cli(tmp_path_factory.mktemp("fidelity"))

    def run(*args: str, loop: str = "none") -> tuple[dict[str, Any], dict[str, Any]]:
        result = ok(cli(*DRIFT, *args, job=drift_job(loop)))
        run = cli.run_json(result)
        assemble = next(n for n in run["nodes"] if n["id"] == "assemble")
        report = (result.run_dir / "report.html").read_text()  # type: ignore[attr-defined]
        return run, assemble["metrics"] | {"stderr": result.stderr, "report": report}

    return run


@pytest.mark.slow
def test_drift_correction_cuts_end_of_video_drift_at_least_3x(render):
    _, plain = render("assemble.color_match=none")
    assert len(plain["drift"]) == 10
    assert plain["drift_end"] > 10
    assert "colour drift: end dE" in plain["stderr"] and "seams: 9 joins" in plain["stderr"]
    assert ", motion ratio mean" in plain["stderr"]
    assert all(isinstance(seam["motion"], float) for seam in plain["seams"])
    assert plain["seam_motion_max"] == max(seam["motion"] for seam in plain["seams"])
    assert "<figcaption>seams.motion</figcaption>" in plain["report"]
    assert "<dt>seam_motion_mean</dt>" in plain["report"]
    for method in ("mean_lab", "reinhard_lab", "mkl", "histogram"):
        _, fixed = render(f"assemble.color_match={method}")
        assert plain["drift_end"] >= 3 * fixed["drift_end"], method
    # On by default for chained frame clips (`auto`), with the same result as asking for it.
    _, default = render()
    assert default["drift_end"] == render(f"assemble.color_match={AUTO_METHOD}")[1]["drift_end"]
    assert plain["drift_end"] >= 3 * default["drift_end"]


@pytest.mark.slow
def test_cosine_crossfade_hides_the_seam_jump(render):
    _, hard = render("assemble.color_match=reinhard_lab")
    _, faded = render("assemble.color_match=reinhard_lab", "assemble.overlap_frames=8")
    assert hard["seam_jump_mean"] > 2.5
    assert len(faded["seams"]) == 9
    assert faded["seam_jump_mean"] <= 1.5


def test_closure_loop_seam_is_no_worse_than_the_other_seams(render):
    run, metrics = render(loop="closure")
    assert run["frames"] == 250
    assert metrics["loop_seam"] <= metrics["seam_jump_mean"]
    assert "loop seam: jump ratio" in metrics["stderr"]


def _segment(run: dict[str, Any], node_id: str) -> Path:
    node = next(n for n in run["nodes"] if n["id"] == node_id)
    return Path(run["store"]) / "segment" / node["key"]


def test_the_frame_that_conditions_the_next_clip_is_corrected(render):
    plain, _ = render("assemble.color_match=none")
    fixed, _ = render("assemble.color_match=reinhard_lab")
    for run, corrected in ((plain, False), (fixed, True)):
        manifest = json.loads((_segment(run, "segment/5.0") / "manifest.json").read_text())
        previous = read_frame(
            _segment(run, "segment/4.0") / "clip.mkv", manifest["params"]["start_frame"]
        )
        start = read_frame(_segment(run, "segment/5.0") / "clip.mkv", 0)
        anchor = read_frame(_segment(run, "segment/0.0") / "clip.mkv", 0)
        if corrected:
            gap = delta_e(mean_lab(start), mean_lab(anchor))
            assert gap < delta_e(mean_lab(previous), mean_lab(anchor)) / 3
        else:
            np.testing.assert_array_equal(start, previous)


@pytest.mark.slow
def test_auto_colour_match_is_the_explicit_method_byte_for_byte(tmp_path: Path):
    """The default `auto` on a chained draft job with drift: the plan says what it settled on,
    and the run has the node keys and final bytes of `color_match=<that method>` in a store of
    its own (test_color: what it settles on for other jobs)."""
    job = tiny_job(transition="continue")
    args = (*DRIFT, "video.frames=17", "audio=none")
    auto, explicit = Cli(tmp_path / "auto"), Cli(tmp_path / "explicit")
    plan = ok(auto(*args, job=job, command="plan"))
    assert f"assemble.color_match: auto -> {AUTO_METHOD}" in plan.stdout
    runs = [
        ok(auto(*args, job=job)),
        ok(explicit(*args, f"assemble.color_match={AUTO_METHOD}", job=job)),
    ]
    first, second = (Cli.run_json(r) for r in runs)
    assert first["settled"] == {"assemble.color_match": ["auto", AUTO_METHOD]}
    assert "settled" not in second
    assert [(n["id"], n["key"]) for n in first["nodes"]] == [
        (n["id"], n["key"]) for n in second["nodes"]
    ]
    final = [(r.run_dir / "final.mp4").read_bytes() for r in runs]  # type: ignore[attr-defined]
    assert final[0] == final[1]


@pytest.mark.parametrize(
    ("args", "job", "key"),
    [
        (("assemble.color_match=magic",), {}, "assemble.color_match"),
        (("assemble.color_strength=2",), {}, "assemble.color_strength"),
        (("assemble.color_reference=last",), {}, "assemble.color_reference"),
        (("interpolate=flow", "interpolate.factor=3"), {}, "interpolate.factor"),
        (("video.drift.color=0.9",), {}, "video.drift.color"),
        (
            ("assemble.overlap_frames=8",),
            {"transition": "continue", "shots": [{"prompt": "a", "frames": 4}] * 2},
            "assemble.overlap_frames",
        ),
    ],
)
def test_bad_quality_options_fail_in_one_line(cli: Cli, args, job, key):
    result = cli("preset=draft", "video.frames=17", *args, job=tiny_job(**job))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {key}:"), result.stderr
    assert not (result.run_dir / "run.json").exists()
