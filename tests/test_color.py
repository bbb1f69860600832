"""Colour drift correction: each method undoes a known cast, strength blends, bad options fail,
and `color_match: auto` settles on a method only where clips are chained from frames."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import tiny_job

from orchestrator.engine.errors import UserError
from orchestrator.plan.job import plan_job
from orchestrator.render.graph import build_graph
from orchestrator.render.stages import Stages
from stages import color
from stages.assemble import AUTO_METHOD, Assembler
from stages.metrics import delta_e, mean_lab
from stages.video.draft import DraftVideo


def _picture(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:48, 0:64]
    base = np.stack([xs * 3, ys * 4, (xs + ys) * 2], axis=-1).astype(np.float32)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def _cast(frame: np.ndarray) -> np.ndarray:
    return np.clip(frame * np.array([1.2, 1.05, 0.8]) + 10, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("method", ["mean_lab", "reinhard_lab", "mkl", "histogram"])
def test_each_method_undoes_a_colour_cast(method: str):
    reference = _picture()
    drifted = _cast(_picture(1))
    before = delta_e(mean_lab(drifted), mean_lab(reference))
    transform = color.fit(
        method, color.stats_of(drifted, method), color.stats_of(reference, method)
    )
    after = delta_e(mean_lab(transform.apply(drifted)), mean_lab(reference))
    assert before > 10
    assert after < before / 5


def test_strength_blends_with_the_identity():
    reference, drifted = _picture(), _cast(_picture(1))
    transform = color.fit("mkl", color.stats_of(drifted, "mkl"), color.stats_of(reference, "mkl"))
    np.testing.assert_array_equal(transform.toward(0.0).apply(drifted), drifted)
    full = transform.apply(drifted).astype(float)
    half = transform.toward(0.5).apply(drifted).astype(float)
    assert np.abs(half - (full + drifted) / 2).max() <= 1


def test_mean_lab_keeps_the_contrast_a_push_in_narrowed():
    """A close-up of the keyframe has less spread than the whole picture; matching the spread
    (Reinhard) would stretch it back, matching only the mean leaves it."""
    reference = _picture()
    close_up = _cast(np.ascontiguousarray(reference[18:30, 24:40].repeat(4, 0).repeat(4, 1)))
    spread = {}
    for method in ("mean_lab", "reinhard_lab"):
        fitted = color.fit(
            method, color.stats_of(close_up, method), color.stats_of(reference, method)
        )
        corrected = fitted.apply(close_up)
        assert delta_e(mean_lab(corrected), mean_lab(reference)) < 2, method
        spread[method] = (
            color.to_lab(corrected)[..., 0].std() / color.to_lab(close_up)[..., 0].std()
        )
    assert 0.9 < spread["mean_lab"] < 1.1
    assert spread["reinhard_lab"] > 1.5


def test_statistics_accumulate_frame_by_frame():
    frames = [_picture(i) for i in range(3)]
    stats = color.stats_of(frames, "reinhard_lab")
    pooled = color.stats_of(np.concatenate(frames, axis=0), "reinhard_lab")
    np.testing.assert_allclose(stats.mean, pooled.mean, rtol=1e-6)
    np.testing.assert_allclose(stats.cov, pooled.cov, rtol=1e-5, atol=1e-6)


def test_correct_start_matches_the_anchor_only_when_enabled():
    anchor, start = _picture(), _cast(_picture(1))
    np.testing.assert_array_equal(Assembler().correct_start(start, anchor), start)
    corrected = Assembler(color_match="reinhard_lab").correct_start(start, anchor)
    assert delta_e(mean_lab(corrected), mean_lab(anchor)) < 1


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"color_match": "magic"}, "assemble.color_match"),
        ({"color_strength": 1.5}, "assemble.color_strength"),
        ({"color_reference": "last_keyframe"}, "assemble.color_reference"),
    ],
)
def test_bad_colour_options_name_the_key(options: dict, key: str):
    with pytest.raises(UserError) as err:
        Assembler(**options).validate(None)  # type: ignore[arg-type]
    assert err.value.key == key


def _planned(make_config, transition: str, continuation: str):
    """A two-shot job planned for 17-frame draft clips: `continue` chains shot 1 from shot 0.
    The draft backend cannot hand over latents; the plan carries the mode, so set it there."""
    cfg = make_config(job=tiny_job(transition=transition))
    drafted = "frame" if continuation == "latent" else continuation
    timeline = plan_job(cfg, DraftVideo(frames=17, continuation=drafted))
    return replace(timeline, continuation=continuation)


@pytest.mark.parametrize(
    ("transition", "continuation", "method"),
    [
        ("continue", "frame", AUTO_METHOD),
        ("continue", "motion", AUTO_METHOD),
        ("continue", "latent", "none"),
        ("cut", "frame", "none"),
    ],
)
def test_auto_settles_on_the_method_where_clips_are_chained_from_frames(
    make_config, transition, continuation, method
):
    """On for chained clips handed over as frames; off for latents (no decode at the seam) and
    for jobs whose clips all start from their own keyframe (nothing to drift)."""
    timeline = _planned(make_config, transition, continuation)
    assert any(s.start_segment is not None for s in timeline.segments) == (transition != "cut")
    assert Assembler(color_match="auto").settled(timeline) == {"color_match": method}
    for explicit in color.METHODS:
        assert Assembler(color_match=explicit).settled(timeline) == {}


def test_auto_is_settled_into_the_config_before_any_key(make_config):
    """The default is `auto`; the graph is built from the settled config, so `auto` and the
    explicit method give the same node keys, and the plan records what `auto` became."""
    keys = {}
    for value in ("auto", AUTO_METHOD, "none"):
        cfg = make_config(f"assemble.color_match={value}", job=tiny_job(transition="continue"))
        assert make_config().assemble.color_match == "auto"
        stages = Stages.from_config(cfg)
        graph = build_graph(plan_job(cfg, stages.video), stages)
        keys[value] = {node.id: node.key for node in graph}
        assert cfg.assemble.color_match == stages.assemble.color_match
        settled = {"assemble.color_match": ("auto", AUTO_METHOD)} if value == "auto" else {}
        assert stages.settled == settled
    assert keys["auto"] == keys[AUTO_METHOD]
    # Only what the correction touches changes: the chained clip and everything after it.
    changed = {n for n, key in keys["auto"].items() if key != keys["none"][n]}
    assert changed == {"segment/1.0", "assemble", "mux"}


def test_an_unsettled_auto_refuses_to_run():
    with pytest.raises(RuntimeError, match="settled"):
        Assembler(color_match="auto").corrects  # noqa: B018
