"""Draft backends: deterministic cards, fitted user images, Ken-Burns clips that chain exactly."""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.stage import KeyframeRequest, SegmentRequest
from stages.diffusion.pool import ModelPool
from stages.keyframes.draft import DraftKeyframes
from stages.keyframes.images import ImageKeyframes
from stages.video.draft import DraftVideo


def ctx(tmp_path: Path) -> NodeContext:
    return NodeContext("test", tmp_path, {}, ModelPool())


def request(
    seed: int = 1, prompt: str = "# A title\n- a long line of prompt text"
) -> KeyframeRequest:
    return KeyframeRequest(0, 3, prompt, "", 160, 96, seed)


def test_draft_card_is_deterministic_and_depends_on_seed_and_prompt(tmp_path):
    backend = DraftKeyframes()
    a = np.asarray(backend.render(request(), None, ctx(tmp_path)))
    assert a.shape == (96, 160, 3)
    np.testing.assert_array_equal(a, np.asarray(backend.render(request(), None, ctx(tmp_path))))
    assert not np.array_equal(a, np.asarray(backend.render(request(2), None, ctx(tmp_path))))
    other = backend.render(request(prompt="something else"), None, ctx(tmp_path))
    assert not np.array_equal(a, np.asarray(other))


def test_draft_card_uses_the_shots_own_image(tmp_path):
    image = Image.new("RGB", (400, 100), (10, 200, 30))
    card = DraftKeyframes().render(request(), image, ctx(tmp_path))
    assert card.size == (160, 96)
    assert np.abs(np.asarray(card).astype(int) - (10, 200, 30)).max() <= 1


def test_image_keyframes_need_an_image_per_shot(make_config):
    from conftest import tiny_job

    from orchestrator.plan.job import plan_job

    timeline = plan_job(make_config(job=tiny_job()), DraftVideo(frames=17))
    with pytest.raises(UserError) as err:
        ImageKeyframes().validate(timeline)
    assert err.value.key == "job.shots[0].image"


def segment(n: int = 17, seed: int = 5) -> SegmentRequest:
    return SegmentRequest(0, 0, "motion", "", 64, 48, n, Fraction(16), seed)


def frames_of(start, end=None, n=17, seed=5, tmp_path=Path(".")):
    return list(DraftVideo(frames=17).generate(segment(n, seed), start, end, ctx(tmp_path)))


def test_draft_clip_starts_exactly_on_its_start_frame_and_moves(tmp_path):
    start = np.asarray(
        DraftKeyframes().render(KeyframeRequest(0, 1, "x", "", 64, 48, 3), None, ctx(tmp_path))
    )
    frames = frames_of(start, tmp_path=tmp_path)
    assert len(frames) == 17
    np.testing.assert_array_equal(frames[0], start)
    steps = [np.abs(b.astype(int) - a).mean() for a, b in pairwise(frames)]
    assert min(steps) > 0, "every frame moves"
    assert max(steps) < 8, "motion is smooth"
    np.testing.assert_array_equal(frames[-1], frames_of(start, tmp_path=tmp_path)[-1])


def test_draft_clip_with_an_end_frame_lands_on_it(tmp_path):
    rng = np.random.default_rng(0)
    start = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    end = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    frames = frames_of(start, end, tmp_path=tmp_path)
    np.testing.assert_array_equal(frames[0], start)
    np.testing.assert_array_equal(frames[-1], end)
    to_end = [np.abs(f.astype(int) - end).mean() for f in frames]
    assert to_end[-2] < to_end[len(frames) // 2] < to_end[1]
