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


def _timed_clips(tmp_path: Path, timeline) -> list[Path]:
    """Every clip frame is a flat picture of its time in the take (a chained clip's frame 0 is
    the time of the frame it starts on), so a correctly joined take reads 0, 1, 2, ..."""
    paths, starts = [], []
    for segment in timeline.segments:
        start = 0
        if segment.start_segment is not None:
            start = starts[segment.start_segment] + segment.start_frame
        elif segment.number:
            previous = timeline.segments[segment.number - 1]
            start = starts[-1] + previous.keep
        starts.append(start)
        path = tmp_path / f"{segment.number}.mkv"
        frames = (np.full((16, 16, 3), start + i, np.uint8) for i in range(segment.num_frames))
        write_video(path, frames, fps=timeline.fps, codec=LOSSLESS)
        paths.append(path)
    return paths


@pytest.mark.parametrize(
    ("frames", "overlap"), [((24,), 2), ((24,), 3), ((12, 8), 0), ((12, 8), 2), ((30, 7), 1)]
)
def test_heads_longer_than_the_overlap_join_the_take_in_time(
    make_config, tmp_path, frames, overlap
):
    """continuation=latent starts a chained clip on a 4-frame boundary, so its head can be
    longer than the overlap: the frames before the overlap repeat frames already out and are
    dropped; the last `overlap` are crossfaded with the frames of the same time."""
    from dataclasses import replace

    from orchestrator.plan.segments import plan_segments

    shots = [{"prompt": f"shot {i}", "frames": n} for i, n in enumerate(frames)]
    cfg = make_config(
        f"assemble.overlap_frames={overlap}",
        job=tiny_job(shots=shots, transition="continue"),
    )
    timeline = plan_job(cfg, DraftVideo(frames=17))
    segments = plan_segments(timeline.shots, "continue", "none", overlap, 17, 0, grid=4)
    assert any(s.head > max(overlap, 1) for s in segments)
    assert not any(s.drop for s in segments)
    timeline = replace(timeline, segments=segments)
    clips = _timed_clips(tmp_path, timeline)
    out = [int(f[0, 0, 0]) for f, _, _ in Assembler().frames(clips, timeline, {})]
    assert out == list(range(sum(frames)))
