"""Assembly of chained clips: N shared frames are crossfaded, N=0 drops the duplicated frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_job

from orchestrator.media.encode import LOSSLESS, write_video
from orchestrator.plan.job import plan_job
from stages.assemble import Assembler, crossfade_weights
from stages.video.draft import DraftVideo


def _clips(tmp_path: Path, timeline) -> list[Path]:
    """Clip k's frame i is a flat picture of level 100k + i, so every output frame says where
    it came from."""
    paths = []
    for segment in timeline.segments:
        path = tmp_path / f"{segment.number}.mkv"
        frames = (
            np.full((16, 16, 3), 100 * segment.number + i, np.uint8)
            for i in range(segment.num_frames)
        )
        write_video(path, frames, fps=timeline.fps, codec=LOSSLESS)
        paths.append(path)
    return paths


@pytest.mark.parametrize("crossfade", ["linear", "cosine"])
@pytest.mark.parametrize("overlap", [0, 1, 4])
def test_shared_frames_are_crossfaded_or_dropped(make_config, tmp_path, overlap, crossfade):
    cfg = make_config(
        f"assemble.overlap_frames={overlap}",
        f"assemble.crossfade={crossfade}",
        job=tiny_job(shots=[{"prompt": "one long take", "frames": 24}]),
    )
    timeline = plan_job(cfg, DraftVideo(frames=17))
    first, second = timeline.segments
    assert second.start_segment == 0 and second.start_frame == first.keep - max(overlap, 1)
    out = [
        int(f[0, 0, 0]) for f, _, _ in Assembler().frames(_clips(tmp_path, timeline), timeline, {})
    ]
    assert len(out) == timeline.frames == 24
    shared = first.keep - second.start_frame
    own = [i for i in range(first.keep - (overlap or 0)) if i not in first.drop]
    assert out[: len(own)] == own
    if overlap == 0:
        # The second clip's frame 0 repeats the first clip's last frame: it is dropped.
        assert shared == 1 and out[len(own)] == 101
    else:
        w = crossfade_weights(overlap, crossfade)
        for i in range(overlap):
            expected = (1 - w[i]) * (second.start_frame + i) + w[i] * (100 + i)
            assert abs(out[len(own) + i] - expected) <= 0.5 + 1e-9
        assert out[len(own) + overlap] == 100 + overlap


def test_cosine_weights_ease_in_and_out():
    w = crossfade_weights(8, "cosine")
    assert 0 < w[0] < 0.05 and 0.95 < w[-1] < 1
    np.testing.assert_allclose(w + w[::-1], 1)
    np.testing.assert_allclose(crossfade_weights(3, "linear"), [0.25, 0.5, 0.75])


def test_colour_anchor_is_where_the_chain_began(make_config):
    shots = [{"prompt": "a", "frames": 30}, {"prompt": "b", "frames": 30}]
    cfg = make_config(job=tiny_job(transition="morph", shots=shots))
    timeline = plan_job(cfg, DraftVideo(frames=17))
    landing = next(s for s in timeline.segments if s.end_keyframe == 1)
    assert landing.start_segment is not None and landing.shot == 0
    assert Assembler(color_match="mkl").anchor(timeline, landing) == 0
    by_first = Assembler(color_match="mkl", color_reference="first_keyframe")
    assert all(by_first.anchor(timeline, s) == 0 for s in timeline.segments)
    second_shot = next(s for s in timeline.segments if s.shot == 1)
    assert Assembler(color_match="mkl").anchor(timeline, second_shot) == 1
